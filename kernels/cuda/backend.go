package cuda

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"syscall"
	"unsafe"

	"github.com/tinyrecursion/trm/kernels"
)

// Backend is kernels.Backend[float32] on a GPU, so that the TRM model, its
// optimisers and the trainer run there unchanged.
//
// Every buffer from Alloc is a host slice with a device copy: buffers are
// carved in step from a host chunk (ordinary Go memory, committed only
// where the host touches it) and a device chunk (cuMemAlloc) of the same
// size, so the device address of any slice is one lookup away. Operations
// work on the device copies; the model sends what it writes on the host
// with ToDevice and fetches what it reads with ToHost (the interface's
// contract). No managed memory: nothing pages behind the program's back,
// and nothing depends on the runtime offering unified memory.
//
// Operations are enqueued, in order, on the backend's one stream and
// return without waiting, so the GPU runs them back to back while the host
// enqueues the next. Every copy between host and device waits for the
// stream (ToDevice, ToHost, the staging of host arrays, the losses coming
// back), so the host never reads a value before it is computed nor changes
// memory a copy has yet to read, whatever the driver does with pageable
// memory; device-side ordering is the stream's. The small host arrays the
// interface passes (token ids, labels, row scales, losses) go through
// device staging buffers. Every []float32 argument must come from Alloc:
// anything else is refused with an error. Operations do not return errors
// (the interface is the CPU's): the first failure is kept, every later
// operation does nothing, and Err reports it, after waiting for the stream
// so that a kernel's failure counts too; the model returns it from Forward
// and Backward.
type Backend struct {
	c    *Context
	s    *Stream
	name string
	math Math // how the GEMMs multiply

	spans []span               // chunk pairs, sorted by host address
	free  []byte               // the unused rest of the newest host chunk
	stage map[int]DeviceBuffer // device staging buffers, by argument slot
	rows  []float32            // host scratch: the rows ToDeviceRows packs
	err   error                // the first failure; later operations do nothing
}

// span is one host chunk, starting at address lo, and its device twin.
type span struct {
	lo   uintptr
	host []byte
	dev  DeviceBuffer
}

func (s span) hi() uintptr { return s.lo + uintptr(len(s.host)) }

// staging slots: one device buffer per host argument of an operation.
const (
	stageIDs = iota
	stageOrder
	stageOffsets
	stageUIDs
	stageScale
	stageLoss
	stageRows
)

// BackendOptions configure NewBackend.
type BackendOptions struct {
	// Math is how the GEMMs multiply (GemmArgs.Math): MathFP32, the CPU's
	// arithmetic; MathTF32, several times the fp32 rate at about 1e-3
	// relative error per product; MathBF16, the tensor cores' bf16 rate at
	// the precision of the reference's bf16 forward (about 4e-3). Every
	// other operation computes in fp32 whatever the mode.
	Math Math
}

// NewBackend returns a training backend on c. It loads cuBLAS and the
// kernels (compiling them with NVRTC, or from the cache) now, so that a
// missing piece is reported before any training.
func NewBackend(c *Context, opts BackendOptions) (*Backend, error) {
	if !opts.Math.known() {
		return nil, fmt.Errorf("cuda backend: unknown GEMM math %v", opts.Math)
	}
	if err := c.LoadBLAS(); err != nil {
		return nil, err
	}
	if err := c.LoadKernels(); err != nil {
		return nil, err
	}
	s, err := c.NewStream()
	if err != nil {
		return nil, err
	}
	name := "cuda-float32"
	switch opts.Math {
	case MathTF32:
		name += ", TF32 GEMMs"
	case MathBF16:
		name += ", bf16 GEMMs"
	}
	return &Backend{c: c, s: s, math: opts.Math, name: name + " (" + c.Props.Name + ")", stage: map[int]DeviceBuffer{}}, nil
}

// Name implements kernels.Backend.
func (b *Backend) Name() string { return b.name }

// Err implements kernels.Backend: the first failed operation, or nil. It
// waits for the operations enqueued so far, whose failures the driver
// reports only then.
func (b *Backend) Err() error {
	if b.err == nil {
		if err := b.s.Synchronize(); err != nil {
			b.fail(err)
		}
	}
	return b.err
}

// Close gives back every device buffer the backend holds and its stream;
// slices from Alloc must not be used afterwards.
func (b *Backend) Close() error {
	err := b.s.Synchronize()
	for _, sp := range b.spans {
		b.c.Free(sp.dev)
	}
	for _, d := range b.stage {
		b.c.Free(d)
	}
	b.stage, b.spans, b.free = nil, nil, nil
	return errors.Join(err, b.s.Close())
}

func (b *Backend) fail(err error) {
	if b.err == nil && err != nil {
		b.err = fmt.Errorf("cuda backend: %w", err)
	}
}

// run enqueues an operation's launches, unless an earlier operation
// failed; it does not wait for them.
func (b *Backend) run(op string, launches func() error) {
	if b.err != nil {
		return
	}
	if err := launches(); err != nil {
		b.fail(fmt.Errorf("%s: %w", op, err))
	}
}

// transfer enqueues a copy between host and device and waits for the
// stream to reach its end, so the host may read or change the memory once
// it returns.
func (b *Backend) transfer(op string, copies func() error) {
	b.run(op, copies)
	if b.err != nil {
		return
	}
	if err := b.s.Synchronize(); err != nil {
		b.fail(fmt.Errorf("%s: %w", op, err))
	}
}

// Alloc implements kernels.Backend: n zeroed float32 on the host and on
// the device, carved from chunk pairs of at least chunkBytes (the model
// makes hundreds of buffers), each aligned to 256 bytes as cuMemAlloc's are.
func (b *Backend) Alloc(n int) []float32 {
	need := (4*n + 255) &^ 255
	if b.err != nil || n == 0 {
		return unusable(n)
	}
	if len(b.free) < need {
		size := max(need, chunkBytes)
		dev, err := b.c.Alloc(size)
		if err == nil {
			err = b.c.Memset(b.s, dev.Ptr, 0, size)
		}
		if err == nil {
			err = b.s.Synchronize()
		}
		if err != nil {
			b.fail(b.allocError(err))
			return unusable(n)
		}
		host := make([]byte, size)
		lo := uintptr(unsafe.Pointer(&host[0]))
		i := sort.Search(len(b.spans), func(i int) bool { return b.spans[i].lo > lo })
		b.spans = append(b.spans, span{})
		copy(b.spans[i+1:], b.spans[i:])
		b.spans[i] = span{lo: lo, host: host, dev: dev}
		b.free = host
	}
	x := View[float32](b.free[: 4*n : 4*n])
	b.free = b.free[need:]
	return x
}

// allocError adds to a failed allocation how much the backend held and the
// device had left: the usual cause is a model and batch too large for the
// device.
func (b *Backend) allocError(err error) error {
	var held int64
	for _, sp := range b.spans {
		held += int64(len(sp.host))
	}
	msg := fmt.Sprintf("this backend holds %.1f GiB", float64(held)/(1<<30))
	if free, total, ierr := b.c.MemInfo(); ierr == nil {
		msg += fmt.Sprintf("; the device has %.1f GiB free of %.1f", float64(free)/(1<<30), float64(total)/(1<<30))
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

// unusable returns n float32 for Alloc to hand out after a failure: no
// operation accepts them (they lie outside the backend's chunks), and the
// model finds the failure at its next Err. Large ones are mapped without
// reserving memory, untouched: a buffer too large for the device is often
// too large for the host's heap too, whose failure would end the process
// before the device's error is reported.
func unusable(n int) []float32 {
	if n <= 1<<20 {
		return make([]float32, n)
	}
	b, err := syscall.Mmap(-1, 0, 4*n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]float32, n)
	}
	return View[float32](b)
}

// chunkBytes is the least chunk Alloc makes.
const chunkBytes = 64 << 20

// ptr returns the device address of x, which must lie within one chunk of
// this backend and hold at least n elements.
func (b *Backend) ptr(x []float32, n int, what string) DevPtr {
	if n == 0 {
		return 0
	}
	if len(x) < n {
		b.fail(fmt.Errorf("%s holds %d values, the operation needs %d", what, len(x), n))
		return 0
	}
	lo := uintptr(unsafe.Pointer(&x[0]))
	hi := lo + uintptr(n)*4
	i := sort.Search(len(b.spans), func(i int) bool { return b.spans[i].hi() > lo })
	if i == len(b.spans) || b.spans[i].lo > lo || hi > b.spans[i].hi() {
		b.fail(fmt.Errorf("%s is not a buffer from this backend's Alloc", what))
		return 0
	}
	return b.spans[i].dev.Ptr + DevPtr(lo-b.spans[i].lo)
}

// optional is ptr for an argument that may be nil (address 0).
func (b *Backend) optional(x []float32, n int, what string) DevPtr {
	if x == nil {
		return 0
	}
	return b.ptr(x, n, what)
}

// ToDevice implements kernels.Backend.
func (b *Backend) ToDevice(x []float32) {
	p := b.ptr(x, len(x), "to-device buffer")
	if p == 0 {
		return
	}
	b.transfer("copy to the device", func() error { return b.c.CopyHtoD(b.s, p, Bytes(x)) })
}

// ToDeviceRows implements kernels.Backend: the rows are packed on the
// host, sent in one transfer and put in place by a kernel, rather than one
// transfer (and one wait) per row.
func (b *Backend) ToDeviceRows(x []float32, dim int, ids []int32) {
	if len(ids) == 0 || b.err != nil {
		return
	}
	pt := b.ptr(x, len(x), "to-device rows")
	if pt == 0 {
		return
	}
	if cap(b.rows) < len(ids)*dim {
		b.rows = make([]float32, len(ids)*dim)
	}
	rows := b.rows[:len(ids)*dim]
	for i, id := range ids {
		if id < 0 || (int(id)+1)*dim > len(x) {
			b.fail(fmt.Errorf("to-device rows: ids[%d] = %d outside the buffer of %d rows", i, id, len(x)/dim))
			return
		}
		copy(rows[i*dim:(i+1)*dim], x[int(id)*dim:])
	}
	pr, pid := staged(b, stageRows, rows), staged(b, stageIDs, ids)
	b.run("to-device rows", func() error { return b.c.SetRows(b.s, pt, pr, pid, len(ids), dim) })
}

// ToHost implements kernels.Backend.
func (b *Backend) ToHost(x []float32) {
	p := b.ptr(x, len(x), "to-host buffer")
	if p == 0 {
		return
	}
	b.transfer("copy to the host", func() error { return b.c.CopyDtoH(b.s, Bytes(x), p) })
}

// staged copies x into the device staging buffer of slot and returns its
// address (0 for nil x).
func staged[T int32 | float32 | float64](b *Backend, slot int, x []T) DevPtr {
	if x == nil || b.err != nil {
		return 0
	}
	p := b.stageBuf(slot, len(x)*int(unsafe.Sizeof(x[0])))
	if p == 0 {
		return 0
	}
	b.transfer("staging host values", func() error { return b.c.CopyHtoD(b.s, p, Bytes(x)) })
	if b.err != nil {
		return 0
	}
	return p
}

// stageBuf returns the address of slot's device staging buffer with room
// for n bytes (the allocator's size classes make regrowth rare).
func (b *Backend) stageBuf(slot, n int) DevPtr {
	d, ok := b.stage[slot]
	if ok && d.Bytes >= max(n, 1) {
		return d.Ptr
	}
	if ok {
		// Enqueued operations may still read the old buffer, and the
		// allocator may hand it to the driver once it is back in the cache.
		if err := b.s.Synchronize(); err != nil {
			b.fail(err)
			return 0
		}
		b.c.Free(d)
	}
	d, err := b.c.Alloc(max(n, 2*d.Bytes, 256))
	if err != nil {
		delete(b.stage, slot)
		b.fail(err)
		return 0
	}
	b.stage[slot] = d
	return d.Ptr
}

// gemm is one row-major fp32 product C = alpha·op(A)·op(B) + beta·C, or a
// strided batch of them, on the backend's stream.
func (b *Backend) gemm(g GemmArgs) error {
	g.AB, g.CType, g.Math = F32, F32, b.math
	return b.c.Gemm(b.s, g)
}

// Gemm implements kernels.Backend.
func (b *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	rowsA, colsA := m, k // as stored
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	pa := b.ptr(a, extent(rowsA, colsA, lda), "gemm A")
	pb := b.ptr(bm, extent(rowsB, colsB, ldb), "gemm B")
	pc := b.ptr(c, extent(m, n, ldc), "gemm C")
	b.run("gemm", func() error {
		return b.gemm(GemmArgs{TransA: transA, TransB: transB, M: m, N: n, K: k, Alpha: alpha, Beta: beta,
			A: pa, B: pb, C: pc, Lda: lda, Ldb: ldb, Ldc: ldc})
	})
}

// extent is the number of elements a rows×cols matrix with row stride ld
// spans.
func extent(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// Gather implements kernels.Backend.
func (b *Backend) Gather(out, table []float32, ids []int32, dim int, scale float32) {
	if len(ids) == 0 {
		return
	}
	po, pt := b.ptr(out, len(ids)*dim, "gather out"), b.ptr(table, len(table), "gather table")
	pid := staged(b, stageIDs, ids)
	b.run("gather", func() error { return b.c.Embedding(b.s, F32, po, pt, pid, len(ids), dim, len(table)/dim, scale) })
}

// ScatterAdd implements kernels.Backend: the rows are grouped by id on the
// host so that the kernel sums each id's rows in order, without atomics.
func (b *Backend) ScatterAdd(dtable, dout []float32, ids []int32, dim int, scale float32) {
	if len(ids) == 0 {
		return
	}
	pt, pd := b.ptr(dtable, len(dtable), "scatter-add table"), b.ptr(dout, len(ids)*dim, "scatter-add rows")
	for i, id := range ids {
		if id < 0 || int(id)*dim >= len(dtable) {
			b.fail(fmt.Errorf("scatter-add: ids[%d] = %d outside the table of %d rows", i, id, len(dtable)/dim))
			return
		}
	}
	order, offsets, uids := GroupByID(ids)
	g := Groups{Order: staged(b, stageOrder, order), Offsets: staged(b, stageOffsets, offsets), UIDs: staged(b, stageUIDs, uids), U: len(uids)}
	b.run("scatter-add", func() error { return b.c.EmbeddingBackward(b.s, F32, pt, pd, g, dim, scale, true) })
}

// Copy implements kernels.Backend: a device-to-device copy, so that the
// model's buffer copies (the carry, residual gradients) stay on the device.
func (b *Backend) Copy(dst, src []float32) {
	n := len(dst)
	pd, ps := b.ptr(dst, n, "copy destination"), b.ptr(src, n, "copy source")
	if pd == ps {
		return
	}
	b.run("copy", func() error { return b.c.CopyDtoD(b.s, pd, ps, 4*n) })
}

// CopyRows implements kernels.Backend with one strided copy
// (cuMemcpy2DAsync).
func (b *Backend) CopyRows(dst []float32, dstStride int, src []float32, srcStride int, rows, width int) {
	if rows == 0 || width == 0 {
		return
	}
	pd, ps := b.ptr(dst, extent(rows, width, dstStride), "copy-rows destination"), b.ptr(src, extent(rows, width, srcStride), "copy-rows source")
	b.run("copy-rows", func() error { return b.c.CopyRows(b.s, pd, 4*dstStride, ps, 4*srcStride, 4*width, rows) })
}

// Zero implements kernels.Backend.
func (b *Backend) Zero(x []float32) {
	if len(x) == 0 {
		return
	}
	px := b.ptr(x, len(x), "zero")
	b.run("zero", func() error { return b.c.Memset(b.s, px, 0, 4*len(x)) })
}

// Add implements kernels.Backend.
func (b *Backend) Add(out, x, y []float32) {
	n := len(out)
	po, px, py := b.ptr(out, n, "add out"), b.ptr(x, n, "add a"), b.ptr(y, n, "add b")
	b.run("add", func() error { return b.c.Add(b.s, F32, po, px, py, n) })
}

// Transpose implements kernels.Backend.
func (b *Backend) Transpose(out, in []float32, batch, rows, cols int) {
	n := batch * rows * cols
	po, pi := b.ptr(out, n, "transpose out"), b.ptr(in, n, "transpose in")
	b.run("transpose", func() error { return b.c.Transpose(b.s, F32, po, pi, batch, rows, cols) })
}

// RMSNorm implements kernels.Backend.
func (b *Backend) RMSNorm(out, rstd, in []float32, rows, dim int, eps float64) {
	po, pr, pi := b.ptr(out, rows*dim, "rmsnorm out"), b.ptr(rstd, rows, "rmsnorm rstd"), b.ptr(in, rows*dim, "rmsnorm in")
	b.run("rmsnorm", func() error { return b.c.RMSNorm(b.s, F32, po, pr, pi, rows, dim, float32(eps)) })
}

// AddRMSNorm implements kernels.Backend: the sum goes to out, which the
// norm then rewrites in place (each thread reads its elements before it
// writes them).
func (b *Backend) AddRMSNorm(out, rstd, x, y []float32, rows, dim int, eps float64) {
	n := rows * dim
	po, pr, px, py := b.ptr(out, n, "rmsnorm out"), b.ptr(rstd, rows, "rmsnorm rstd"), b.ptr(x, n, "add a"), b.ptr(y, n, "add b")
	b.run("add+rmsnorm", func() error {
		if err := b.c.Add(b.s, F32, po, px, py, n); err != nil {
			return err
		}
		return b.c.RMSNorm(b.s, F32, po, pr, po, rows, dim, float32(eps))
	})
}

// RMSNormBackward implements kernels.Backend.
func (b *Backend) RMSNormBackward(din, dout, out, rstd []float32, rows, dim int) {
	n := rows * dim
	pdi, pdo := b.ptr(din, n, "rmsnorm din"), b.ptr(dout, n, "rmsnorm dout")
	py, pr := b.ptr(out, n, "rmsnorm output"), b.ptr(rstd, rows, "rmsnorm rstd")
	b.run("rmsnorm backward", func() error { return b.c.RMSNormBackward(b.s, F32, pdi, pdo, py, pr, rows, dim) })
}

func (b *Backend) ropeArgs(x []float32, rows, stride, heads, headDim, seq int, cos, sin []float32) (DevPtr, RoPEArgs) {
	px := b.ptr(x, extent(rows, heads*headDim, stride), "rope x")
	a := RoPEArgs{Rows: rows, L: seq, Heads: heads, RowStride: stride, HeadDim: headDim,
		Cos: b.ptr(cos, seq*headDim, "rope cos"), Sin: b.ptr(sin, seq*headDim, "rope sin")}
	return px, a
}

// RoPE implements kernels.Backend.
func (b *Backend) RoPE(x []float32, rows, stride, heads, headDim, seq int, cos, sin []float32) {
	px, a := b.ropeArgs(x, rows, stride, heads, headDim, seq, cos, sin)
	b.run("rope", func() error { return b.c.RoPE(b.s, F32, px, px, a) })
}

// RoPEBackward implements kernels.Backend.
func (b *Backend) RoPEBackward(dx []float32, rows, stride, heads, headDim, seq int, cos, sin []float32) {
	px, a := b.ropeArgs(dx, rows, stride, heads, headDim, seq, cos, sin)
	b.run("rope backward", func() error { return b.c.RoPEBackward(b.s, F32, px, px, a) })
}

// headLayout is the layout of Attention's operands for strided-batched
// GEMMs: one call per head, batched over the sequences.
type headLayout struct {
	w          int   // heads·headDim, the width of q, k, v and out
	sQKV, sOut int64 // element strides between sequences
	sP         int64
}

func newHeadLayout(seq, heads, headDim int) headLayout {
	w := heads * headDim
	return headLayout{w: w, sQKV: int64(seq * 3 * w), sOut: int64(seq * w), sP: int64(heads * seq * seq)}
}

// off advances a float32 device address by n elements.
func off(p DevPtr, n int) DevPtr { return p + DevPtr(4*n) }

// Attention implements kernels.Backend as the CPU does: per (sequence,
// head), probs = softmax(scale·q·kᵀ) with scale = 1/sqrt(headDim) applied
// in the product, and out = probs·v.
func (b *Backend) Attention(out, probs, qkv []float32, batch, seq, heads, headDim int) {
	l := newHeadLayout(seq, heads, headDim)
	rows := batch * heads * seq
	po, pp, pq := b.ptr(out, batch*seq*l.w, "attention out"), b.ptr(probs, rows*seq, "attention probs"), b.ptr(qkv, batch*seq*3*l.w, "attention qkv")
	scale := float32(1 / math.Sqrt(float64(headDim)))
	b.run("attention", func() error {
		for h := range heads {
			q, k, p := off(pq, h*headDim), off(pq, l.w+h*headDim), off(pp, h*seq*seq)
			if err := b.gemm(GemmArgs{TransB: true, M: seq, N: seq, K: headDim, Alpha: scale, A: q, B: k, C: p,
				Lda: 3 * l.w, Ldb: 3 * l.w, Ldc: seq, Batch: batch, StrideA: l.sQKV, StrideB: l.sQKV, StrideC: l.sP}); err != nil {
				return err
			}
		}
		if err := b.c.Softmax(b.s, F32, pp, pp, rows, seq, 1); err != nil {
			return err
		}
		for h := range heads {
			p, v := off(pp, h*seq*seq), off(pq, 2*l.w+h*headDim)
			if err := b.gemm(GemmArgs{M: seq, N: headDim, K: seq, Alpha: 1, A: p, B: v, C: off(po, h*headDim),
				Lda: seq, Ldb: 3 * l.w, Ldc: l.w, Batch: batch, StrideA: l.sP, StrideB: l.sQKV, StrideC: l.sOut}); err != nil {
				return err
			}
		}
		return nil
	})
}

// AttentionBackward implements kernels.Backend: dP = dO·vᵀ, dv = Pᵀ·dO,
// dS = P∘(dP - rowsum(dP∘P)) in dprobs, dq = scale·dS·k, dk = scale·dSᵀ·q.
func (b *Backend) AttentionBackward(dqkv, dprobs, dout, probs, qkv []float32, batch, seq, heads, headDim int) {
	l := newHeadLayout(seq, heads, headDim)
	rows := batch * heads * seq
	n := batch * seq
	pdq, pdp := b.ptr(dqkv, n*3*l.w, "attention dqkv"), b.ptr(dprobs, rows*seq, "attention dprobs")
	pdo, pp, pq := b.ptr(dout, n*l.w, "attention dout"), b.ptr(probs, rows*seq, "attention probs"), b.ptr(qkv, n*3*l.w, "attention qkv")
	scale := float32(1 / math.Sqrt(float64(headDim)))
	b.run("attention backward", func() error {
		for h := range heads {
			do, p, dp := off(pdo, h*headDim), off(pp, h*seq*seq), off(pdp, h*seq*seq)
			v, dv := off(pq, 2*l.w+h*headDim), off(pdq, 2*l.w+h*headDim)
			if err := b.gemm(GemmArgs{TransB: true, M: seq, N: seq, K: headDim, Alpha: 1, A: do, B: v, C: dp,
				Lda: l.w, Ldb: 3 * l.w, Ldc: seq, Batch: batch, StrideA: l.sOut, StrideB: l.sQKV, StrideC: l.sP}); err != nil {
				return err
			}
			if err := b.gemm(GemmArgs{TransA: true, M: seq, N: headDim, K: seq, Alpha: 1, A: p, B: do, C: dv,
				Lda: seq, Ldb: l.w, Ldc: 3 * l.w, Batch: batch, StrideA: l.sP, StrideB: l.sOut, StrideC: l.sQKV}); err != nil {
				return err
			}
		}
		if err := b.c.SoftmaxBackward(b.s, F32, pdp, pdp, pp, rows, seq, 1); err != nil {
			return err
		}
		for h := range heads {
			ds := off(pdp, h*seq*seq)
			q, k := off(pq, h*headDim), off(pq, l.w+h*headDim)
			dq, dk := off(pdq, h*headDim), off(pdq, l.w+h*headDim)
			if err := b.gemm(GemmArgs{M: seq, N: headDim, K: seq, Alpha: scale, A: ds, B: k, C: dq,
				Lda: seq, Ldb: 3 * l.w, Ldc: 3 * l.w, Batch: batch, StrideA: l.sP, StrideB: l.sQKV, StrideC: l.sQKV}); err != nil {
				return err
			}
			if err := b.gemm(GemmArgs{TransA: true, M: seq, N: headDim, K: seq, Alpha: scale, A: ds, B: q, C: dk,
				Lda: seq, Ldb: 3 * l.w, Ldc: 3 * l.w, Batch: batch, StrideA: l.sP, StrideB: l.sQKV, StrideC: l.sQKV}); err != nil {
				return err
			}
		}
		return nil
	})
}

// SwiGLU implements kernels.Backend.
func (b *Backend) SwiGLU(out, gateUp []float32, rows, inter int) {
	po, pg := b.ptr(out, rows*inter, "swiglu out"), b.ptr(gateUp, rows*2*inter, "swiglu gate_up")
	b.run("swiglu", func() error { return b.c.SwiGLU(b.s, F32, po, pg, rows, inter) })
}

// SwiGLUBackward implements kernels.Backend.
func (b *Backend) SwiGLUBackward(dgateUp, dout, gateUp []float32, rows, inter int) {
	pd, po, pg := b.ptr(dgateUp, rows*2*inter, "swiglu dgate_up"), b.ptr(dout, rows*inter, "swiglu dout"), b.ptr(gateUp, rows*2*inter, "swiglu gate_up")
	b.run("swiglu backward", func() error { return b.c.SwiGLUBackward(b.s, F32, pd, po, pg, rows, inter) })
}

// MLP implements kernels.Backend: two GEMMs around SwiGLU, the
// intermediates in device scratch when the caller does not keep them.
func (b *Backend) MLP(out, x, wGateUp, wDown, gateUp, act []float32, rows, dim, inter int) {
	po, px := b.ptr(out, rows*dim, "mlp out"), b.ptr(x, rows*dim, "mlp x")
	pgu, pd := b.ptr(wGateUp, 2*inter*dim, "mlp gate_up weight"), b.ptr(wDown, dim*inter, "mlp down weight")
	keepGU, keepAct := b.optional(gateUp, rows*2*inter, "mlp gate_up"), b.optional(act, rows*inter, "mlp act")
	b.run("mlp", func() error {
		// Scratch goes back to the allocator's cache at the end: its next
		// use is on this same stream, after this operation.
		var scratch []DeviceBuffer
		defer func() {
			for _, buf := range scratch {
				b.c.Free(buf)
			}
		}()
		orScratch := func(p DevPtr, n int) (DevPtr, error) {
			if p != 0 {
				return p, nil
			}
			buf, err := b.c.Alloc(4 * n)
			scratch = append(scratch, buf)
			return buf.Ptr, err
		}
		gu, err := orScratch(keepGU, rows*2*inter)
		if err != nil {
			return err
		}
		a, err := orScratch(keepAct, rows*inter)
		if err != nil {
			return err
		}
		if err := b.gemm(GemmArgs{TransB: true, M: rows, N: 2 * inter, K: dim, Alpha: 1, A: px, B: pgu, C: gu,
			Lda: dim, Ldb: dim, Ldc: 2 * inter}); err != nil {
			return err
		}
		if err := b.c.SwiGLU(b.s, F32, a, gu, rows, inter); err != nil {
			return err
		}
		return b.gemm(GemmArgs{TransB: true, M: rows, N: dim, K: inter, Alpha: 1, A: a, B: pd, C: po,
			Lda: inter, Ldb: inter, Ldc: dim})
	})
}

// crossEntropy runs one loss kernel; the losses come back through a
// device staging buffer and one copy back.
func (b *Backend) crossEntropy(kind LossKind, loss []float64, dlogits, logits []float32, labels []int32, gradScale []float64, rows, vocab int) {
	if rows == 0 || b.err != nil {
		return
	}
	if len(loss) < rows || len(labels) < rows || (gradScale != nil && len(gradScale) < rows) {
		b.fail(fmt.Errorf("cross-entropy over %d rows given %d losses, %d labels, %d scales", rows, len(loss), len(labels), len(gradScale)))
		return
	}
	a := CrossEntropyArgs{Kind: kind, Rows: rows, V: vocab, IgnoreIndex: kernels.IgnoreLabel,
		Logits: b.ptr(logits, rows*vocab, "logits"), DLogits: b.optional(dlogits, rows*vocab, "dlogits"),
		Labels: staged(b, stageIDs, labels[:rows])}
	if gradScale != nil {
		a.RowScale = staged(b, stageScale, gradScale[:rows])
	}
	if a.Loss = b.stageBuf(stageLoss, rows*8); a.Loss == 0 {
		return // b.err says why
	}
	b.transfer("cross-entropy", func() error {
		if err := b.c.CrossEntropy(b.s, F32, a); err != nil {
			return err
		}
		return b.c.CopyDtoH(b.s, Bytes(loss[:rows]), a.Loss)
	})
}

// StablemaxCrossEntropy implements kernels.Backend.
func (b *Backend) StablemaxCrossEntropy(loss []float64, dlogits, logits []float32, labels []int32, gradScale []float64, rows, vocab int) {
	b.crossEntropy(Stablemax, loss, dlogits, logits, labels, gradScale, rows, vocab)
}

// SoftmaxCrossEntropy implements kernels.Backend.
func (b *Backend) SoftmaxCrossEntropy(loss []float64, dlogits, logits []float32, labels []int32, gradScale []float64, rows, vocab int) {
	b.crossEntropy(SoftmaxCE, loss, dlogits, logits, labels, gradScale, rows, vocab)
}

// AdamATan2 implements kernels.Backend; the per-step constants, computed
// in float64 on the host, reach the kernel as float32.
func (b *Backend) AdamATan2(p, g, m, v []float32, s kernels.AdamATan2Scalars) {
	n := len(p)
	pp, pg, pm, pv := b.ptr(p, n, "adam params"), b.ptr(g, n, "adam grads"), b.ptr(m, n, "adam m"), b.ptr(v, n, "adam v")
	a := AdamScalars{LR: float32(s.LR), WdA: float32(s.Decay), T1: float32(s.T1), T2: float32(s.T2),
		Rbc1: float32(s.RBC1), Sbc2: float32(s.SBC2)}
	b.run("adam-atan2", func() error { return b.c.AdamATan2(b.s, pp, pg, pm, pv, n, a) })
}

// Lerp implements kernels.Backend.
func (b *Backend) Lerp(shadow, p []float32, mu float64) {
	n := len(shadow)
	ps, pp := b.ptr(shadow, n, "ema shadow"), b.ptr(p, n, "ema params")
	b.run("ema", func() error { return b.c.EMA(b.s, ps, pp, n, float32(mu)) })
}

var _ kernels.Backend[float32] = (*Backend)(nil)
