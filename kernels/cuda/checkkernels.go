package cuda

import (
	"fmt"
	"math"
)

// kernelCheck runs one kernel on random inputs and compares it with its
// reference. It returns one comparison per output.
type kernelCheck struct {
	name string
	run  func(h *harness, dt DType) ([]namedComparison, error)
	f32  bool // has an fp32 variant
	bf16 bool // has a bf16 variant
}

type namedComparison struct {
	what string
	comparison
}

// Shapes for the kernel checks: TRM's widths (h = 512, I = 1536, d = 64,
// 8 heads, 12-token vocabulary) on a few hundred token rows.
const (
	ckRows  = 640
	ckH     = 512
	ckI     = 1536
	ckHeads = 8
	ckD     = 64
	ckL     = 97 // 81 Sudoku cells + 16 puzzle-embedding positions
	ckV     = 12
	ckSeq   = 256 // softmax row width (attention over positions)
)

// relFP32 is the tolerance of fp32 arithmetic (and of libm-quality
// transcendental functions) against the fp64 references.
const relFP32 = 2e-6

func kernelChecks() []kernelCheck {
	both := func(name string, run func(h *harness, dt DType) ([]namedComparison, error)) kernelCheck {
		return kernelCheck{name: name, run: run, f32: true, bf16: true}
	}
	return []kernelCheck{
		both("add", func(h *harness, dt DType) ([]namedComparison, error) {
			return binary(h, dt, refAdd, h.c.Add)
		}),
		both("mul", func(h *harness, dt DType) ([]namedComparison, error) {
			return binary(h, dt, refMul, h.c.Mul)
		}),
		both("scale", func(h *harness, dt DType) ([]namedComparison, error) {
			n := ckRows * ckH
			x := h.randn(n, dt, 1)
			px, out := h.upload(x, dt), h.alloc(n*dt.Size())
			h.do(func() error { return h.c.Scale(h.s, dt, out, px, 22.627417, n) })
			return h.results(output(h, "out", dt, out, refScale(x, 22.627417), relFP32))
		}),
		{name: "cast_f32_bf16", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			x := h.randn(n, F32, 3)
			px, out := h.upload(x, F32), h.alloc(n*2)
			h.do(func() error { return h.c.CastF32ToBF16(h.s, out, px, n) })
			want := make([]float32, n)
			for i, v := range x {
				want[i] = roundTo(v, BF16)
			}
			return h.results(exact(h, "out", BF16, out, want))
		}},
		{name: "cast_bf16_f32", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			x := h.randn(n, BF16, 3)
			px, out := h.upload(x, BF16), h.alloc(n*4)
			h.do(func() error { return h.c.CastBF16ToF32(h.s, out, px, n) })
			return h.results(exact(h, "out", F32, out, x))
		}},
		both("transpose", func(h *harness, dt DType) ([]namedComparison, error) {
			const batch, R, C = 3, ckL, ckH
			x := h.randn(batch*R*C, dt, 1)
			px, out := h.upload(x, dt), h.alloc(len(x)*dt.Size())
			h.do(func() error { return h.c.Transpose(h.s, dt, out, px, batch, R, C) })
			return h.results(exact(h, "out", dt, out, refTranspose(x, batch, R, C)))
		}),
		both("swiglu_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			gu := h.randn(ckRows*2*ckI, dt, 2)
			pgu, out := h.upload(gu, dt), h.alloc(ckRows*ckI*dt.Size())
			h.do(func() error { return h.c.SwiGLU(h.s, dt, out, pgu, ckRows, ckI) })
			return h.results(output(h, "out", dt, out, refSwiGLU(gu, ckRows, ckI), relFP32))
		}),
		both("swiglu_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			gu, dout := h.randn(ckRows*2*ckI, dt, 2), h.randn(ckRows*ckI, dt, 1)
			pgu, pd, out := h.upload(gu, dt), h.upload(dout, dt), h.alloc(len(gu)*dt.Size())
			h.do(func() error { return h.c.SwiGLUBackward(h.s, dt, out, pd, pgu, ckRows, ckI) })
			return h.results(output(h, "out", dt, out, refSwiGLUBackward(dout, gu, ckRows, ckI), relFP32))
		}),
		both("rmsnorm_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckH, dt, 3)
			px, y, rstd := h.upload(x, dt), h.alloc(len(x)*dt.Size()), h.alloc(ckRows*4)
			h.do(func() error { return h.c.RMSNorm(h.s, dt, y, rstd, px, ckRows, ckH, 1e-5) })
			wy, wr := refRMSNorm(x, ckRows, ckH, float64(float32(1e-5)))
			return h.results(output(h, "out", dt, y, wy, relFP32),
				namedComparison{"rstd", compare(h.download(rstd, ckRows, F32), wr, 0, relFP32)})
		}),
		both("rmsnorm_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			y, rstd := refRMSNorm(h.randn(ckRows*ckH, F32, 3), ckRows, ckH, float64(float32(1e-5)))
			for i := range y {
				y[i] = roundTo(y[i], dt)
			}
			dy := h.randn(len(y), dt, 1)
			py, pdy, pr, dx := h.upload(y, dt), h.upload(dy, dt), h.upload(rstd, F32), h.alloc(len(y)*dt.Size())
			h.do(func() error { return h.c.RMSNormBackward(h.s, dt, dx, pdy, py, pr, ckRows, ckH) })
			return h.results(output(h, "out", dt, dx, refRMSNormBackward(dy, y, rstd, ckRows, ckH), 1e-5))
		}),
		both("rope_fwd", func(h *harness, dt DType) ([]namedComparison, error) { return ropeCheck(h, dt, false) }),
		both("rope_bwd", func(h *harness, dt DType) ([]namedComparison, error) { return ropeCheck(h, dt, true) }),
		both("softmax_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckSeq, dt, 8)
			px, y := h.upload(x, dt), h.alloc(len(x)*dt.Size())
			h.do(func() error { return h.c.Softmax(h.s, dt, y, px, ckRows, ckSeq, 0.125) })
			return h.results(output(h, "out", dt, y, refSoftmax(x, ckRows, ckSeq, 0.125), 1e-5))
		}),
		both("softmax_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			y := refSoftmax(h.randn(ckRows*ckSeq, F32, 8), ckRows, ckSeq, 0.125)
			for i := range y {
				y[i] = roundTo(y[i], dt)
			}
			dy := h.randn(len(y), dt, 1)
			py, pdy, dx := h.upload(y, dt), h.upload(dy, dt), h.alloc(len(y)*dt.Size())
			h.do(func() error { return h.c.SoftmaxBackward(h.s, dt, dx, pdy, py, ckRows, ckSeq, 0.125) })
			return h.results(output(h, "out", dt, dx, refSoftmaxBackward(dy, y, ckRows, ckSeq, 0.125), 1e-5))
		}),
		both("stablemax_xent", func(h *harness, dt DType) ([]namedComparison, error) { return xentCheck(h, dt, Stablemax) }),
		both("softmax_xent", func(h *harness, dt DType) ([]namedComparison, error) { return xentCheck(h, dt, SoftmaxCE) }),
		both("argmax", func(h *harness, dt DType) ([]namedComparison, error) {
			rows := ckRows * 4
			x := h.randn(rows*ckV, dt, 2)
			for r := 0; r < rows; r += 7 { // exact ties: the first index must win
				x[r*ckV+3], x[r*ckV+9] = 50, 50
			}
			px, out := h.upload(x, dt), h.alloc(rows*4)
			h.do(func() error { return h.c.Argmax(h.s, dt, out, px, rows, ckV) })
			got, want := h.downloadInt32(out, rows), refArgmax(x, rows, ckV)
			gf, wf := make([]float32, rows), make([]float32, rows)
			for i := range got {
				gf[i], wf[i] = float32(got[i]), float32(want[i])
			}
			return h.results(namedComparison{"index", compare(gf, wf, 0, 0)})
		}),
		both("embedding_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			table := h.randn(ckV*ckH, F32, 1)
			ids := make([]int32, ckRows)
			for i := range ids {
				ids[i] = int32(h.rng.IntN(ckV))
			}
			ids[5] = ckV // out of range: a row of NaN
			pt, pi, out := h.upload(table, F32), uploadRaw(h, ids), h.alloc(ckRows*ckH*dt.Size())
			h.do(func() error { return h.c.Embedding(h.s, dt, out, pt, pi, ckRows, ckH, ckV, 22.627417) })
			return h.results(output(h, "out", dt, out, refEmbedding(table, ids, ckH, ckV, 22.627417), relFP32))
		}),
		both("embedding_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			dout := h.randn(ckRows*ckH, dt, 1)
			ids := make([]int32, ckRows)
			for i := range ids {
				ids[i] = int32(h.rng.IntN(ckV - 2)) // two rows get no gradient
			}
			dtable := h.randn(ckV*ckH, F32, 1) // accumulated into
			want := append([]float32(nil), dtable...)
			refEmbeddingBackward(want, dout, ids, ckH, 0.5)
			order, offsets, uids := GroupByID(ids)
			pd, pt := h.upload(dout, dt), h.upload(dtable, F32)
			g := Groups{U: len(uids), Order: uploadRaw(h, order), Offsets: uploadRaw(h, offsets), UIDs: uploadRaw(h, uids)}
			h.do(func() error { return h.c.EmbeddingBackward(h.s, dt, pt, pd, g, ckH, 0.5, true) })
			return h.results(output(h, "dtable", F32, pt, want, 1e-5))
		}),
		{name: "set_rows", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			// A table of ckRows rows, a third of them replaced (one id
			// twice, with equal rows, as packed from one host row).
			table := h.randn(ckRows*ckH, F32, 1)
			ids := make([]int32, 0, ckRows/3+1)
			for _, r := range h.rng.Perm(ckRows)[:ckRows/3] {
				ids = append(ids, int32(r))
			}
			ids = append(ids, ids[0])
			rows := h.randn(len(ids)*ckH, F32, 1)
			copy(rows[(len(ids)-1)*ckH:], rows[:ckH])
			want := append([]float32(nil), table...)
			for i, id := range ids {
				copy(want[int(id)*ckH:(int(id)+1)*ckH], rows[i*ckH:])
			}
			pt, pr, pi := h.upload(table, F32), h.upload(rows, F32), uploadRaw(h, ids)
			h.do(func() error { return h.c.SetRows(h.s, pt, pr, pi, len(ids), ckH) })
			return h.results(exact(h, "dst", F32, pt, want))
		}},
		{name: "adam_atan2", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			p, g := h.randn(n, F32, 0.05), h.randn(n, F32, 1e-3)
			m, v := h.randn(n, F32, 1e-4), make([]float32, n)
			for i := range v {
				v[i] = float32(math.Abs(float64(h.randn(1, F32, 1e-6)[0])))
			}
			g[0], m[0], v[0] = 0, 0, 0 // atan2(0, 0) = 0: only weight decay moves it
			a := NewAdamScalars(1e-4, 0.9, 0.95, 0.1, 7)
			pp, pg, pm, pv := h.upload(p, F32), h.upload(g, F32), h.upload(m, F32), h.upload(v, F32)
			h.do(func() error { return h.c.AdamATan2(h.s, pp, pg, pm, pv, n, a) })
			refAdamATan2(p, g, m, v, a)
			// The moment updates cancel where g and the old moment nearly
			// balance: the absolute part of the tolerance covers it.
			return h.results(output(h, "p", F32, pp, p, relFP32), output(h, "m", F32, pm, m, relFP32), output(h, "v", F32, pv, v, relFP32))
		}},
		{name: "sparse_signsgd", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			const V, U = 1000, 96
			w := h.randn(V*ckH, F32, 0.1)
			g := h.randn(U*ckH, F32, 1)
			g[3] = 0
			uids := make([]int32, U)
			for i := range uids {
				uids[i] = int32(i*10 + 3)
			}
			pw, pg, pu := h.upload(w, F32), h.upload(g, F32), uploadRaw(h, uids)
			h.do(func() error { return h.c.SparseSignSGD(h.s, pw, pg, pu, U, ckH, 1e-2, 0.1) })
			refSparseSignSGD(w, g, uids, ckH, 1e-2, 0.1)
			return h.results(output(h, "w", F32, pw, w, relFP32))
		}},
		{name: "ema", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			sh, p := h.randn(n, F32, 1), h.randn(n, F32, 1)
			ps, pp := h.upload(sh, F32), h.upload(p, F32)
			h.do(func() error { return h.c.EMA(h.s, ps, pp, n, 0.999) })
			refEMA(sh, p, 0.999)
			return h.results(output(h, "shadow", F32, ps, sh, relFP32))
		}},
		both("sum", func(h *harness, dt DType) ([]namedComparison, error) {
			n := 3_000_017
			x := h.randn(n, dt, 1)
			px, out := h.upload(x, dt), h.alloc(8)
			h.do(func() error { return h.c.Sum(h.s, dt, out, px, n) })
			// fp64 sums of the same values in another order differ by
			// rounding only: far below 1e-9 of the sum of magnitudes.
			return h.results(namedComparison{"sum", compare(h.downloadF64(out, 1), []float64{refSum(x)}, 1e-9*float64(n), 0)})
		}),
		both("sum_rows", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckV, dt, 1)
			px, out := h.upload(x, dt), h.alloc(ckV*4)
			h.do(func() error { return h.c.SumRows(h.s, dt, out, px, ckRows, ckV) })
			return h.results(namedComparison{"out", compare(h.download(out, ckV, F32), refSumRows(x, ckRows, ckV), 1e-6, relFP32)})
		}),
	}
}

// binary checks out = f(a, b) elementwise.
func binary(h *harness, dt DType, ref func(a, b []float32) []float32,
	run func(s *Stream, dt DType, out, a, b DevPtr, n int) error) ([]namedComparison, error) {
	n := ckRows * ckH
	a, b := h.randn(n, dt, 1), h.randn(n, dt, 1)
	pa, pb, out := h.upload(a, dt), h.upload(b, dt), h.alloc(n*dt.Size())
	h.do(func() error { return run(h.s, dt, out, pa, pb, n) })
	return h.results(output(h, "out", dt, out, ref(a, b), relFP32))
}

// output downloads one output of dtype dt and compares it with want at the
// dtype's tolerance (tolFor).
func output(h *harness, what string, dt DType, p DevPtr, want []float32, rel float64) namedComparison {
	got := h.download(p, len(want), dt)
	atol, rtol := tolFor(dt, want, rel)
	return namedComparison{what, compare(got, want, atol, rtol)}
}

// exact downloads one output that must equal want bit for bit.
func exact(h *harness, what string, dt DType, p DevPtr, want []float32) namedComparison {
	return namedComparison{what, compare(h.download(p, len(want), dt), want, 0, 0)}
}

// ropeCheck rotates q and k inside a fused qkv buffer [rows, 3*H*d] and
// checks that v is untouched.
func ropeCheck(h *harness, dt DType, backward bool) ([]namedComparison, error) {
	rows, stride := 4*ckL, 3*ckHeads*ckD
	cos, sin := refRoPETables(ckL, ckD, 10000)
	x := h.randn(rows*stride, dt, 1)
	px := h.upload(x, dt)
	a := RoPEArgs{Rows: rows, L: ckL, Heads: 2 * ckHeads, RowStride: stride, HeadDim: ckD, Cos: h.upload(cos, F32), Sin: h.upload(sin, F32)}
	sign, rope := 1.0, h.c.RoPE
	if backward {
		sign, rope = -1, h.c.RoPEBackward
	}
	h.do(func() error { return rope(h.s, dt, px, px, a) })
	return h.results(output(h, "out", dt, px, refRoPE(x, cos, sin, rows, ckL, 2*ckHeads, stride, ckD, sign), relFP32))
}

func xentCheck(h *harness, dt DType, kind LossKind) ([]namedComparison, error) {
	rows := ckRows * 4
	logits := h.randn(rows*ckV, dt, 3)
	labels := make([]int32, rows)
	scale := make([]float64, rows)
	for i := range labels {
		labels[i] = int32(h.rng.IntN(ckV))
		scale[i] = 1 / float64(1+h.rng.IntN(900))
	}
	labels[1], labels[2] = -100, -100
	a := CrossEntropyArgs{Kind: kind, Logits: h.upload(logits, dt), Labels: uploadRaw(h, labels), RowScale: uploadRaw(h, scale),
		Loss: h.alloc(rows * 8), DLogits: h.alloc(rows * ckV * 4), Rows: rows, V: ckV, IgnoreIndex: -100}
	h.do(func() error { return h.c.CrossEntropy(h.s, dt, a) })
	wl, wd := refCrossEntropy(kind, logits, labels, scale, rows, ckV, -100)
	lossTol := 1e-12 // stablemax runs in fp64 on both sides
	if kind == SoftmaxCE {
		lossTol = 1e-5
	}
	return h.results(namedComparison{"loss", compare(h.downloadF64(a.Loss, rows), wl, lossTol, lossTol)},
		output(h, "dlogits", F32, a.DLogits, wd, 1e-5))
}

// runKernelChecks runs every check in every dtype and prints one line per
// output. It returns how many failed.
func runKernelChecks(h *harness, printf func(string, ...any)) (failed int, err error) {
	for _, k := range kernelChecks() {
		for _, dt := range []DType{F32, BF16} {
			if (dt == F32 && !k.f32) || (dt == BF16 && !k.bf16) {
				continue
			}
			name := k.name
			if k.f32 && k.bf16 {
				name += "_" + dt.String()
			}
			res, err := k.run(h, dt)
			h.free()
			if err != nil {
				return failed, fmt.Errorf("%s: %w", name, err)
			}
			for _, r := range res {
				verdict := "ok"
				if !r.OK() {
					verdict = fmt.Sprintf("FAIL (%d of %d outside)", r.Bad, r.N)
					failed++
				}
				printf("  %-22s %-7s max abs %-9.3g max rel %-9.3g tol %.3g+%.3g|x|  %s\n",
					name, r.what, r.MaxAbs, r.MaxRel, r.ATol, r.RTol, verdict)
			}
		}
	}
	return failed, nil
}
