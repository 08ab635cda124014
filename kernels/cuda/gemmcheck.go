package cuda

import (
	"context"
	"fmt"
)

type gemmCase struct {
	name    string
	ab, c   DType
	math    Math
	transA  bool
	transB  bool
	m, n, k int
	batch   int
	alpha   float32
	beta    float32
	relTol  float64
}

// gemmCases cover the model's products: x·Wᵀ (forward, NT), dY·W (input
// gradient, NN), dYᵀ·X (weight gradient, TN), odd sizes, and attention's
// batched QKᵀ and PV with scaling and accumulation.
func gemmCases() []gemmCase {
	var out []gemmCase
	for _, t := range []struct {
		ab, c DType
		rel   float64
	}{{F32, F32, 1e-5}, {BF16, F32, 1e-5}, {BF16, BF16, 1e-5}} {
		tag := fmt.Sprintf("%v->%v", t.ab, t.c)
		out = append(out,
			gemmCase{name: "NT 640x384x512 " + tag, ab: t.ab, c: t.c, transB: true, m: 640, n: 384, k: 512, alpha: 1, relTol: t.rel},
			gemmCase{name: "NN 257x129x77 " + tag, ab: t.ab, c: t.c, m: 257, n: 129, k: 77, alpha: 1, relTol: t.rel},
			gemmCase{name: "TN 384x512x640 " + tag, ab: t.ab, c: t.c, transA: true, m: 384, n: 512, k: 640, alpha: 1, beta: 1, relTol: t.rel},
			gemmCase{name: "batched NT 8x97x97x64 " + tag, ab: t.ab, c: t.c, transB: true, m: 97, n: 97, k: 64, batch: 8, alpha: 0.125, relTol: t.rel},
			gemmCase{name: "batched NN 8x97x64x97 " + tag, ab: t.ab, c: t.c, m: 97, n: 64, k: 97, batch: 8, alpha: 1, beta: 0.5, relTol: t.rel},
		)
	}
	// fp32 on the tensor cores: inputs rounded to 10 mantissa bits (2^-11
	// relative each) or to bf16's 7 (2^-8), products summed in fp32,
	// against the exact products of the fp32 inputs.
	for _, t := range []struct {
		math Math
		rel  float64
	}{{MathTF32, 2e-3}, {MathBF16, 1e-2}} {
		tag := "f32->f32 " + t.math.String()
		out = append(out,
			gemmCase{name: "NT 640x384x512 " + tag, ab: F32, c: F32, math: t.math, transB: true, m: 640, n: 384, k: 512, alpha: 1, relTol: t.rel},
			gemmCase{name: "batched NN 8x97x64x97 " + tag, ab: F32, c: F32, math: t.math, m: 97, n: 64, k: 97, batch: 8, alpha: 1, beta: 0.5, relTol: t.rel},
		)
	}
	return out
}

func (g gemmCase) args() GemmArgs {
	a := GemmArgs{TransA: g.transA, TransB: g.transB, M: g.m, N: g.n, K: g.k, Alpha: g.alpha, Beta: g.beta,
		AB: g.ab, CType: g.c, Lda: g.k, Ldb: g.n, Ldc: g.n, Batch: max(g.batch, 1), Math: g.math}
	if g.transA {
		a.Lda = g.m
	}
	if g.transB {
		a.Ldb = g.k
	}
	a.StrideA, a.StrideB, a.StrideC = int64(g.m*g.k), int64(g.k*g.n), int64(g.m*g.n)
	return a
}

func runGemmChecks(h *harness, printf func(string, ...any)) (failed int, err error) {
	for _, g := range gemmCases() {
		r, err := gemmCheck(h, g)
		h.free()
		if err != nil {
			return failed, fmt.Errorf("gemm %s: %w", g.name, err)
		}
		verdict := "ok"
		if !r.OK() {
			verdict = fmt.Sprintf("FAIL (%d of %d outside)", r.Bad, r.N)
			failed++
		}
		printf("  %-36s max abs %-9.3g max rel %-9.3g tol %.3g+%.3g|x|  %s\n", g.name, r.MaxAbs, r.MaxRel, r.ATol, r.RTol, verdict)
	}
	return failed, nil
}

func gemmCheck(h *harness, g gemmCase) (comparison, error) {
	a := g.args()
	nb := a.Batch
	A, B := h.randn(nb*g.m*g.k, g.ab, 1), h.randn(nb*g.k*g.n, g.ab, 1)
	C := h.randn(nb*g.m*g.n, g.c, 1)
	a.A, a.B, a.C = h.upload(A, g.ab), h.upload(B, g.ab), h.upload(C, g.c)
	h.do(func() error { return h.c.Gemm(h.s, a) })
	got := h.download(a.C, len(C), g.c)
	if h.err != nil {
		return comparison{}, h.err
	}
	want := append([]float32(nil), C...)
	for b := 0; b < nb; b++ {
		ab, bb, cb := A[b*g.m*g.k:], B[b*g.k*g.n:], want[b*g.m*g.n:(b+1)*g.m*g.n]
		parallelRows(g.m, func(lo, hi int) { refGemm(a, ab, bb, cb, lo, hi) })
	}
	atol, rtol := tolFor(g.c, want, g.relTol)
	return compare(got, want, atol, rtol), nil
}

// benchShape is one timed product.
type benchShape struct {
	name    string
	ab, c   DType
	math    Math
	transA  bool
	transB  bool
	m, n, k int
}

func benchGemms(ctx context.Context, c *Context, s *Stream, tokens int, printf func(string, ...any)) error {
	free, _, err := c.MemInfo()
	if err != nil {
		return err
	}
	// The largest TRM shape holds tokens x (512 + 3072) fp32 values plus a
	// 3072 x 512 weight; leave a quarter of the free memory alone.
	need := func(t int) int64 { return int64(t)*(512+3072)*4 + 3072*512*4 }
	for tokens > 1024 && need(tokens) > free*3/4 {
		tokens /= 2
	}
	shapes := []benchShape{
		{name: "8192^3", ab: BF16, c: BF16, transB: true, m: 8192, n: 8192, k: 8192},
		{name: "8192^3 sgemm", ab: F32, c: F32, transB: true, m: 8192, n: 8192, k: 8192},
		{name: "8192^3 tf32", ab: F32, c: F32, math: MathTF32, transB: true, m: 8192, n: 8192, k: 8192},
		{name: "8192^3 fp32 in bf16", ab: F32, c: F32, math: MathBF16, transB: true, m: 8192, n: 8192, k: 8192},
		{name: "qkv fwd  x.Wt  (tokens x 512 x 1536)", ab: BF16, c: BF16, transB: true, m: tokens, n: 1536, k: 512},
		{name: "gate_up fwd x.Wt (tokens x 512 x 3072)", ab: BF16, c: BF16, transB: true, m: tokens, n: 3072, k: 512},
		{name: "gate_up bwd dY.W (tokens x 3072 x 512)", ab: BF16, c: BF16, m: tokens, n: 512, k: 3072},
		{name: "gate_up bwd dYt.X (3072 x tokens x 512)", ab: BF16, c: F32, transA: true, m: 3072, n: 512, k: tokens},
	}
	// trm's training backend keeps fp32 operands and chooses how they are
	// multiplied (BackendOptions.Math): its forward products, each way.
	for _, m := range []Math{MathFP32, MathTF32, MathBF16} {
		shapes = append(shapes,
			benchShape{name: "qkv fwd, backend, " + m.String(), ab: F32, c: F32, math: m, transB: true, m: tokens, n: 1536, k: 512},
			benchShape{name: "gate_up fwd, backend, " + m.String(), ab: F32, c: F32, math: m, transB: true, m: tokens, n: 3072, k: 512})
	}
	printf("  tokens = %d", tokens)
	if tokens != TRMTokens {
		printf(" (reduced from %d to fit in device memory)", TRMTokens)
	}
	printf("\n")
	for _, sh := range shapes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tf, spot, err := benchGemm(c, s, sh)
		if err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		printf("  %-42s %v->%v  %8.1f TFLOP/s%s\n", sh.name, sh.ab, sh.c, tf, spot)
	}
	return nil
}

// benchGemm times one shape on random data (a 16M-value random tile
// repeated over each operand) and, for the square case, spot-checks 256
// entries of the result against fp64 dot products.
func benchGemm(c *Context, s *Stream, sh benchShape) (tflops float64, spot string, err error) {
	h := newHarness(c, s, 7)
	defer h.free()
	a := GemmArgs{TransA: sh.transA, TransB: sh.transB, M: sh.m, N: sh.n, K: sh.k, Alpha: 1, AB: sh.ab, CType: sh.c,
		Lda: sh.k, Ldb: sh.n, Ldc: sh.n, Math: sh.math}
	if sh.transA {
		a.Lda = sh.m
	}
	if sh.transB {
		a.Ldb = sh.k
	}
	tile := h.randn(1<<24, sh.ab, 1)
	a.A, a.B, a.C = fillTiled(h, tile, sh.m*sh.k, sh.ab), fillTiled(h, tile[1000:], sh.k*sh.n, sh.ab), h.alloc(sh.m*sh.n*sh.c.Size())
	if h.err != nil {
		return 0, "", h.err
	}
	t0, err := c.NewEvent()
	if err != nil {
		return 0, "", err
	}
	defer t0.Close()
	t1, err := c.NewEvent()
	if err != nil {
		return 0, "", err
	}
	defer t1.Close()
	const warm, reps = 3, 20
	for i := 0; i < warm; i++ {
		if err := c.Gemm(s, a); err != nil {
			return 0, "", err
		}
	}
	if err := t0.Record(s); err != nil {
		return 0, "", err
	}
	for i := 0; i < reps; i++ {
		if err := c.Gemm(s, a); err != nil {
			return 0, "", err
		}
	}
	if err := t1.Record(s); err != nil {
		return 0, "", err
	}
	if err := t1.Synchronize(); err != nil {
		return 0, "", err
	}
	ms, err := ElapsedMs(t0, t1)
	if err != nil {
		return 0, "", err
	}
	tflops = 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * reps / (ms / 1e3) / 1e12
	if sh.m != 8192 || sh.n != 8192 {
		return tflops, "", nil
	}
	got := h.download(a.C, sh.m*sh.n, sh.c)
	if h.err != nil {
		return 0, "", h.err
	}
	B := tile[1000:]
	var gv, wv []float32
	for i := 0; i < 256; i++ {
		r, col := h.rng.IntN(sh.m), h.rng.IntN(sh.n)
		sum := 0.0
		for k := 0; k < sh.k; k++ {
			sum += float64(tile[(r*sh.k+k)%len(tile)]) * float64(B[(col*sh.k+k)%len(B)])
		}
		gv, wv = append(gv, got[r*sh.n+col]), append(wv, float32(sum))
	}
	rel := map[Math]float64{MathFP32: 1e-5, MathTF32: 2e-3, MathBF16: 1e-2}[sh.math]
	atol, rtol := tolFor(sh.c, wv, rel)
	r := compare(gv, wv, atol, rtol)
	verdict := "ok"
	if !r.OK() {
		verdict = "FAIL"
	}
	return tflops, fmt.Sprintf("   256 entries vs CPU: max abs %.3g max rel %.3g %s", r.MaxAbs, r.MaxRel, verdict), nil
}

// fillTiled allocates n values and fills them with tile repeated.
func fillTiled(h *harness, tile []float32, n int, dt DType) DevPtr {
	first := tile[:min(len(tile), n)]
	p, src := h.alloc(n*dt.Size()), h.upload(first, dt)
	step := len(first) * dt.Size()
	for off := 0; off < n*dt.Size(); off += step {
		h.do(func() error { return h.c.CopyDtoD(h.s, p+DevPtr(off), src, min(step, n*dt.Size()-off)) })
	}
	return p
}
