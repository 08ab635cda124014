package cuda

import (
	"fmt"
	"math"
	"sort"
)

// DType is the element type of a device array.
type DType int

const (
	F32  DType = iota // float32
	BF16              // bfloat16, stored as the upper 16 bits of a float32
)

func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("DType(%d)", int(t))
}

// Size is the element size in bytes.
func (t DType) Size() int {
	if t == BF16 {
		return 2
	}
	return 4
}

// kernelName is the kernel's name for this dtype: add_f32, add_bf16.
func (t DType) kernelName(op string) (string, error) {
	if t != F32 && t != BF16 {
		return "", fmt.Errorf("%s: unsupported dtype %v", op, t)
	}
	return op + "_" + t.String(), nil
}

// F32ToBF16 rounds to the nearest bfloat16, ties to even, as the kernels'
// from_f32<bf16> and PyTorch do; NaN stays NaN.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x0040
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// BF16ToF32 widens a bfloat16 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

const threads = 256

// grid1D sizes a grid-stride launch: enough blocks to fill the device a
// few times over, never more than the work needs.
func (c *Context) grid1D(n int64) [3]int {
	b := (n + threads - 1) / threads
	b = min(b, int64(c.Props.SMs)*16)
	return [3]int{int(max(b, 1)), 1, 1}
}

func (c *Context) elementwise(op string, dt DType, s *Stream, n int, args ...any) error {
	name, err := dt.kernelName(op)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return c.launch(name, s, c.grid1D(int64(n)), [3]int{threads, 1, 1}, 0, args...)
}

// Add: out = a + b over n elements.
func (c *Context) Add(s *Stream, dt DType, out, a, b DevPtr, n int) error {
	return c.elementwise("add", dt, s, n, out, a, b, int64(n))
}

// Mul: out = a * b over n elements.
func (c *Context) Mul(s *Stream, dt DType, out, a, b DevPtr, n int) error {
	return c.elementwise("mul", dt, s, n, out, a, b, int64(n))
}

// Scale: out = alpha * x over n elements.
func (c *Context) Scale(s *Stream, dt DType, out, x DevPtr, alpha float32, n int) error {
	return c.elementwise("scale", dt, s, n, out, x, alpha, int64(n))
}

// CastF32ToBF16 rounds n fp32 values to bf16.
func (c *Context) CastF32ToBF16(s *Stream, out, x DevPtr, n int) error {
	return c.launch("cast_f32_bf16", s, c.grid1D(int64(n)), [3]int{threads, 1, 1}, 0, out, x, int64(n))
}

// CastBF16ToF32 widens n bf16 values to fp32.
func (c *Context) CastBF16ToF32(s *Stream, out, x DevPtr, n int) error {
	return c.launch("cast_bf16_f32", s, c.grid1D(int64(n)), [3]int{threads, 1, 1}, 0, out, x, int64(n))
}

// Transpose: out[b] = in[b]^T for batch matrices of R x C (out is C x R).
func (c *Context) Transpose(s *Stream, dt DType, out, in DevPtr, batch, R, C int) error {
	name, err := dt.kernelName("transpose")
	if err != nil {
		return err
	}
	grid := [3]int{(C + 31) / 32, (R + 31) / 32, batch}
	return c.launch(name, s, grid, [3]int{32, 8, 1}, 0, out, in, int32(R), int32(C))
}

// SwiGLU: out[rows, I] = silu(gu[:, :I]) * gu[:, I:] for gu [rows, 2I].
func (c *Context) SwiGLU(s *Stream, dt DType, out, gu DevPtr, rows, I int) error {
	return c.elementwise("swiglu_fwd", dt, s, rows*I, out, gu, int64(rows), int64(I))
}

// SwiGLUBackward: dgu [rows, 2I] from dout [rows, I] and the forward input gu.
func (c *Context) SwiGLUBackward(s *Stream, dt DType, dgu, dout, gu DevPtr, rows, I int) error {
	return c.elementwise("swiglu_bwd", dt, s, rows*I, dgu, dout, gu, int64(rows), int64(I))
}

// rowThreads is the block size for one-block-per-row kernels.
func rowThreads(D int) int {
	t := 32
	for t < D && t < 1024 {
		t *= 2
	}
	return min(t, 256)
}

// RMSNorm: y = x / sqrt(mean(x^2) + eps) over rows of D; rstd [rows] fp32
// receives 1/sqrt(...) for the backward pass (0 to skip).
func (c *Context) RMSNorm(s *Stream, dt DType, y, rstd, x DevPtr, rows, D int, eps float32) error {
	name, err := dt.kernelName("rmsnorm_fwd")
	if err != nil || rows == 0 {
		return err
	}
	return c.launch(name, s, [3]int{rows, 1, 1}, [3]int{rowThreads(D), 1, 1}, 0, y, rstd, x, int32(D), eps)
}

// RMSNormBackward: dx from dy, the forward output y and rstd (what the CPU
// backend's RMSNormBackward takes; the forward input need not be kept).
func (c *Context) RMSNormBackward(s *Stream, dt DType, dx, dy, y, rstd DevPtr, rows, D int) error {
	name, err := dt.kernelName("rmsnorm_bwd")
	if err != nil || rows == 0 {
		return err
	}
	return c.launch(name, s, [3]int{rows, 1, 1}, [3]int{rowThreads(D), 1, 1}, 0, dx, dy, y, rstd, int32(D))
}

// RoPEArgs locate the heads to rotate: Rows token rows (B*L) of RowStride
// elements, position = row % L, the first Heads heads of width HeadDim in
// each row; Cos and Sin are [L, HeadDim] fp32 tables.
type RoPEArgs struct {
	Rows, L, Heads, RowStride, HeadDim int
	Cos, Sin                           DevPtr
}

// RoPE rotates x into out (which may be x).
func (c *Context) RoPE(s *Stream, dt DType, out, x DevPtr, a RoPEArgs) error {
	return c.elementwise("rope_fwd", dt, s, a.Rows*a.Heads*a.HeadDim/2, out, x, a.Cos, a.Sin,
		int64(a.Rows), int32(a.L), int32(a.Heads), int64(a.RowStride), int32(a.HeadDim))
}

// RoPEBackward rotates the gradient back: dx from dy.
func (c *Context) RoPEBackward(s *Stream, dt DType, dx, dy DevPtr, a RoPEArgs) error {
	return c.elementwise("rope_bwd", dt, s, a.Rows*a.Heads*a.HeadDim/2, dx, dy, a.Cos, a.Sin,
		int64(a.Rows), int32(a.L), int32(a.Heads), int64(a.RowStride), int32(a.HeadDim))
}

// Softmax: y = softmax(scale * x) over rows of C.
func (c *Context) Softmax(s *Stream, dt DType, y, x DevPtr, rows, C int, scale float32) error {
	name, err := dt.kernelName("softmax_fwd")
	if err != nil || rows == 0 {
		return err
	}
	return c.launch(name, s, [3]int{rows, 1, 1}, [3]int{rowThreads(C), 1, 1}, 0, y, x, int32(C), scale)
}

// SoftmaxBackward: dx = scale * y * (dy - sum(dy * y)) per row.
func (c *Context) SoftmaxBackward(s *Stream, dt DType, dx, dy, y DevPtr, rows, C int, scale float32) error {
	name, err := dt.kernelName("softmax_bwd")
	if err != nil || rows == 0 {
		return err
	}
	return c.launch(name, s, [3]int{rows, 1, 1}, [3]int{rowThreads(C), 1, 1}, 0, dx, dy, y, int32(C), scale)
}

// LossKind selects the cross-entropy variant.
type LossKind int

const (
	Stablemax LossKind = iota // the reference's default, computed in fp64
	SoftmaxCE
)

// CrossEntropyArgs: Logits [Rows, V] in the given dtype, Labels [Rows]
// int32 (IgnoreIndex = no loss), RowScale [Rows] fp64 gradient factors or 0;
// outputs Loss [Rows] fp64 and DLogits [Rows, V] fp32 (0 to skip).
type CrossEntropyArgs struct {
	Kind                  LossKind
	Loss, DLogits, Logits DevPtr
	Labels, RowScale      DevPtr
	Rows, V               int
	IgnoreIndex           int
}

// CrossEntropy computes per-row losses and, if asked, their gradient.
func (c *Context) CrossEntropy(s *Stream, dt DType, a CrossEntropyArgs) error {
	op := "stablemax_xent"
	if a.Kind == SoftmaxCE {
		op = "softmax_xent"
	}
	return c.elementwise(op, dt, s, a.Rows, a.Loss, a.DLogits, a.Logits, a.Labels, a.RowScale,
		int64(a.Rows), int32(a.V), int32(a.IgnoreIndex))
}

// Argmax: out[r] (int32) = the first index of the largest of x[r, :V].
func (c *Context) Argmax(s *Stream, dt DType, out, x DevPtr, rows, V int) error {
	return c.elementwise("argmax", dt, s, rows, out, x, int64(rows), int32(V))
}

// Embedding: out[i, :] = scale * table[ids[i], :] (table fp32 [V, D]).
func (c *Context) Embedding(s *Stream, dt DType, out, table, ids DevPtr, N, D, V int, scale float32) error {
	return c.elementwise("embedding_fwd", dt, s, N*D, out, table, ids, int64(N), int32(D), int32(V), scale)
}

// SetRows: dst[ids[i], :] = rows[i, :] for N ids (dst fp32 with rows of
// width D); a repeated id's rows must be equal.
func (c *Context) SetRows(s *Stream, dst, rows, ids DevPtr, N, D int) error {
	return c.elementwise("set_rows", F32, s, N*D, dst, rows, ids, int64(N), int32(D))
}

// Groups is GroupByID's result on the device.
type Groups struct {
	Order, Offsets, UIDs DevPtr
	U                    int // distinct ids
}

// EmbeddingBackward accumulates dst[row(u), :] += scale * sum of the dout
// rows with id uids[u]; row(u) = uids[u] when byID (dst is the [V, D] table
// gradient), else u (dst is a compact [U, D] gradient).
func (c *Context) EmbeddingBackward(s *Stream, dt DType, dst, dout DevPtr, g Groups, D int, scale float32, byID bool) error {
	name, err := dt.kernelName("embedding_bwd")
	if err != nil || g.U == 0 {
		return err
	}
	flag := int32(0)
	if byID {
		flag = 1
	}
	grid := [3]int{g.U, (D + threads - 1) / threads, 1}
	return c.launch(name, s, grid, [3]int{threads, 1, 1}, 0, dst, dout, g.Order, g.Offsets, g.UIDs, int32(D), scale, flag)
}

// GroupByID sorts row indices by id (stable: rows of one id stay in
// order) for EmbeddingBackward: order lists rows, rows offsets[u] to
// offsets[u+1]-1 of it have id uids[u], uids ascending.
func GroupByID(ids []int32) (order, offsets, uids []int32) {
	order = make([]int32, len(ids))
	for i := range order {
		order[i] = int32(i)
	}
	sort.SliceStable(order, func(a, b int) bool { return ids[order[a]] < ids[order[b]] })
	for i, r := range order {
		if i == 0 || ids[r] != ids[order[i-1]] {
			offsets = append(offsets, int32(i))
			uids = append(uids, ids[r])
		}
	}
	offsets = append(offsets, int32(len(ids)))
	return order, offsets, uids
}

// AdamScalars are AdamATan2's per-step constants, computed in fp64 from
// the hyper-parameters and the 1-based step as the reference does.
type AdamScalars struct {
	LR, WdA, T1, T2, Rbc1, Sbc2 float32
}

// NewAdamScalars computes the constants for one step.
func NewAdamScalars(lr, beta1, beta2, wd float64, step int) AdamScalars {
	return AdamScalars{
		LR:   float32(lr),
		WdA:  float32(1 - lr*wd),
		T1:   float32(1 - beta1),
		T2:   float32(1 - beta2),
		Rbc1: float32(1 / (1 - math.Pow(beta1, float64(step)))),
		Sbc2: float32(math.Sqrt(1 - math.Pow(beta2, float64(step)))),
	}
}

// AdamATan2 updates n parameters p and their moments m, v from gradient g.
func (c *Context) AdamATan2(s *Stream, p, g, m, v DevPtr, n int, a AdamScalars) error {
	return c.launch("adam_atan2_f32", s, c.grid1D(int64(n)), [3]int{threads, 1, 1}, 0,
		p, g, m, v, int64(n), a.LR, a.WdA, a.T1, a.T2, a.Rbc1, a.Sbc2)
}

// SparseSignSGD updates the rows uids of table w from the compact gradient g.
func (c *Context) SparseSignSGD(s *Stream, w, g, uids DevPtr, U, D int, lr, wd float32) error {
	return c.launch("sparse_signsgd_f32", s, c.grid1D(int64(U)*int64(D)), [3]int{threads, 1, 1}, 0,
		w, g, uids, int32(U), int32(D), lr, 1-lr*wd)
}

// EMA: shadow = (1 - mu) p + mu shadow over n values.
func (c *Context) EMA(s *Stream, shadow, p DevPtr, n int, mu float32) error {
	return c.launch("ema_f32", s, c.grid1D(int64(n)), [3]int{threads, 1, 1}, 0, shadow, p, int64(n), mu)
}

// sumParts is the fixed number of partial sums; fixed so that the result
// does not depend on the device's size.
const sumParts = 1024

// Sum writes the sum of n values of x to out (one fp64), deterministically.
func (c *Context) Sum(s *Stream, dt DType, out, x DevPtr, n int) error {
	name, err := dt.kernelName("sum_partial")
	if err != nil {
		return err
	}
	parts, err := c.Alloc(sumParts * 8)
	if err != nil {
		return err
	}
	defer c.Free(parts)
	if err := c.launch(name, s, [3]int{sumParts, 1, 1}, [3]int{threads, 1, 1}, 0, parts.Ptr, x, int64(n)); err != nil {
		return err
	}
	return c.launch("sum_partial_f64", s, [3]int{1, 1, 1}, [3]int{threads, 1, 1}, 0, out, parts.Ptr, int64(sumParts))
}

// SumRows: out[c] (fp32) = sum over r of x[r, c] for x [R, C].
func (c *Context) SumRows(s *Stream, dt DType, out, x DevPtr, R, C int) error {
	return c.elementwise("sum_rows", dt, s, C, out, x, int64(R), int32(C))
}
