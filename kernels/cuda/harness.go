package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
)

// harness moves test data between host and device for the GPU check and
// the GPU tests, and frees everything it allocated. Its device steps keep
// the first error and turn every later step into a no-op, so that a check
// reads as a straight line of uploads, a launch and downloads, and asks for
// the error once, through results (or err).
type harness struct {
	c    *Context
	s    *Stream
	rng  *rand.Rand
	bufs []DeviceBuffer
	err  error // the first failed device step since the last free
}

func newHarness(c *Context, s *Stream, seed uint64) *harness {
	return &harness{c: c, s: s, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// free releases every buffer and forgets the error: the next check starts
// afresh.
func (h *harness) free() {
	for _, b := range h.bufs {
		h.c.Free(b)
	}
	h.bufs, h.err = nil, nil
}

// do runs one device step unless an earlier one failed.
func (h *harness) do(step func() error) {
	if h.err == nil {
		h.err = step()
	}
}

// results returns the comparisons, or the first device error instead.
func (h *harness) results(r ...namedComparison) ([]namedComparison, error) {
	if h.err != nil {
		return nil, h.err
	}
	return r, nil
}

func (h *harness) alloc(bytes int) DevPtr {
	var p DevPtr
	h.do(func() error {
		b, err := h.c.Alloc(bytes)
		if err == nil {
			h.bufs, p = append(h.bufs, b), b.Ptr
		}
		return err
	})
	return p
}

// randn returns n normal values times scale, rounded to bf16 when dt is
// BF16 so that the reference sees exactly what the device sees.
func (h *harness) randn(n int, dt DType, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = roundTo(float32(h.rng.NormFloat64()*scale), dt)
	}
	return x
}

func roundTo(f float32, dt DType) float32 {
	if dt == BF16 {
		return BF16ToF32(F32ToBF16(f))
	}
	return f
}

// upload copies x to the device in dtype dt.
func (h *harness) upload(x []float32, dt DType) DevPtr {
	p := h.alloc(max(len(x)*dt.Size(), 1))
	h.do(func() error {
		if dt != BF16 {
			return h.c.CopyHtoD(h.s, p, Bytes(x))
		}
		u := make([]uint16, len(x))
		for i, v := range x {
			u[i] = F32ToBF16(v)
		}
		return h.c.CopyHtoD(h.s, p, Bytes(u))
	})
	return p
}

// uploadRaw copies x to the device as it is (ids, fp64 scales).
func uploadRaw[T int32 | float64](h *harness, x []T) DevPtr {
	b := Bytes(x)
	p := h.alloc(max(len(b), 1))
	h.do(func() error { return h.c.CopyHtoD(h.s, p, b) })
	return p
}

// download copies n values of dtype dt back as fp32, after the stream's
// work is done.
func (h *harness) download(p DevPtr, n int, dt DType) []float32 {
	out := make([]float32, n)
	if dt != BF16 {
		h.copyBack(Bytes(out), p)
		return out
	}
	u := make([]uint16, n)
	h.copyBack(Bytes(u), p)
	for i, v := range u {
		out[i] = BF16ToF32(v)
	}
	return out
}

func (h *harness) downloadF64(p DevPtr, n int) []float64 {
	out := make([]float64, n)
	h.copyBack(Bytes(out), p)
	return out
}

func (h *harness) downloadInt32(p DevPtr, n int) []int32 {
	out := make([]int32, n)
	h.copyBack(Bytes(out), p)
	return out
}

func (h *harness) copyBack(dst []byte, p DevPtr) {
	h.do(func() error { return h.c.CopyDtoH(h.s, dst, p) })
	h.do(func() error {
		if h.s == nil {
			return h.c.Synchronize()
		}
		return h.s.Synchronize()
	})
}

// comparison is the worst disagreement between a device result and its
// reference: |got - want| <= atol + rtol |want| must hold everywhere.
type comparison struct {
	MaxAbs, MaxRel float64 // MaxRel over elements with |want| > atol
	ATol, RTol     float64
	Bad            int // elements outside the tolerance (NaN counts)
	N              int
}

func (r comparison) OK() bool { return r.Bad == 0 }

func compare[T float32 | float64](got, want []T, atol, rtol float64) comparison {
	r := comparison{ATol: atol, RTol: rtol, N: len(want)}
	if len(got) != len(want) {
		r.Bad = max(len(got), len(want))
		return r
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.IsNaN(d) || d > atol+rtol*math.Abs(w) {
			r.Bad++
		}
		if !math.IsNaN(d) {
			r.MaxAbs = max(r.MaxAbs, d)
			if math.Abs(w) > atol {
				r.MaxRel = max(r.MaxRel, d/math.Abs(w))
			}
		}
	}
	return r
}

func maxAbs[T float32 | float64](x []T) float64 {
	m := 0.0
	for _, v := range x {
		if a := math.Abs(float64(v)); a > m && !math.IsNaN(a) {
			m = a
		}
	}
	return m
}

// tolFor is the tolerance for a kernel's output in dtype dt: fp32 math
// against the fp64 reference, plus one bf16 rounding step (2^-7 relative at
// worst: 8 significant bits) for bf16 outputs. The absolute part, relative
// to the output's scale, covers cancellation in reductions.
func tolFor(dt DType, want []float32, rel float64) (atol, rtol float64) {
	atol = rel*maxAbs(want) + 1e-30
	if dt == BF16 {
		return atol, rel + 1.0/128
	}
	return atol, rel
}

var errCheckFailed = errors.New("gpu check failed")
