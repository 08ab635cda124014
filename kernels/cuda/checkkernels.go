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

func one(what string, c comparison) []namedComparison { return []namedComparison{{what, c}} }

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
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(n * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.Scale(h.s, dt, out, px, 22.627417, n); err != nil {
				return nil, err
			}
			return outputs(h, dt, out, refScale(x, 22.627417), relFP32)
		}),
		{name: "cast_f32_bf16", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			x := h.randn(n, F32, 3)
			px, err := h.upload(x, F32)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(n * 2)
			if err != nil {
				return nil, err
			}
			if err := h.c.CastF32ToBF16(h.s, out, px, n); err != nil {
				return nil, err
			}
			got, err := h.download(out, n, BF16)
			if err != nil {
				return nil, err
			}
			want := make([]float32, n)
			for i, v := range x {
				want[i] = roundTo(v, BF16)
			}
			return one("out", compare(got, want, 0, 0)), nil // must be bit-exact
		}},
		{name: "cast_bf16_f32", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			x := h.randn(n, BF16, 3)
			px, err := h.upload(x, BF16)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(n * 4)
			if err != nil {
				return nil, err
			}
			if err := h.c.CastBF16ToF32(h.s, out, px, n); err != nil {
				return nil, err
			}
			got, err := h.download(out, n, F32)
			if err != nil {
				return nil, err
			}
			return one("out", compare(got, x, 0, 0)), nil
		}},
		both("transpose", func(h *harness, dt DType) ([]namedComparison, error) {
			const batch, R, C = 3, ckL, ckH
			x := h.randn(batch*R*C, dt, 1)
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(len(x) * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.Transpose(h.s, dt, out, px, batch, R, C); err != nil {
				return nil, err
			}
			got, err := h.download(out, len(x), dt)
			if err != nil {
				return nil, err
			}
			return one("out", compare(got, refTranspose(x, batch, R, C), 0, 0)), nil
		}),
		both("swiglu_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			gu := h.randn(ckRows*2*ckI, dt, 2)
			pgu, err := h.upload(gu, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(ckRows * ckI * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.SwiGLU(h.s, dt, out, pgu, ckRows, ckI); err != nil {
				return nil, err
			}
			return outputs(h, dt, out, refSwiGLU(gu, ckRows, ckI), relFP32)
		}),
		both("swiglu_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			gu, dout := h.randn(ckRows*2*ckI, dt, 2), h.randn(ckRows*ckI, dt, 1)
			pgu, err := h.upload(gu, dt)
			if err != nil {
				return nil, err
			}
			pd, err := h.upload(dout, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(len(gu) * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.SwiGLUBackward(h.s, dt, out, pd, pgu, ckRows, ckI); err != nil {
				return nil, err
			}
			return outputs(h, dt, out, refSwiGLUBackward(dout, gu, ckRows, ckI), relFP32)
		}),
		both("rmsnorm_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckH, dt, 3)
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			y, err := h.alloc(len(x) * dt.Size())
			if err != nil {
				return nil, err
			}
			rstd, err := h.alloc(ckRows * 4)
			if err != nil {
				return nil, err
			}
			if err := h.c.RMSNorm(h.s, dt, y, rstd, px, ckRows, ckH, 1e-5); err != nil {
				return nil, err
			}
			wy, wr := refRMSNorm(x, ckRows, ckH, float64(float32(1e-5)))
			ry, err := outputs(h, dt, y, wy, relFP32)
			if err != nil {
				return nil, err
			}
			gr, err := h.download(rstd, ckRows, F32)
			if err != nil {
				return nil, err
			}
			return append(ry, namedComparison{"rstd", compare(gr, wr, 0, relFP32)}), nil
		}),
		both("rmsnorm_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			x, dy := h.randn(ckRows*ckH, dt, 3), h.randn(ckRows*ckH, dt, 1)
			_, rstd := refRMSNorm(x, ckRows, ckH, float64(float32(1e-5)))
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			pdy, err := h.upload(dy, dt)
			if err != nil {
				return nil, err
			}
			pr, err := h.upload(rstd, F32)
			if err != nil {
				return nil, err
			}
			dx, err := h.alloc(len(x) * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.RMSNormBackward(h.s, dt, dx, pdy, px, pr, ckRows, ckH); err != nil {
				return nil, err
			}
			return outputs(h, dt, dx, refRMSNormBackward(dy, x, ckRows, ckH, float64(float32(1e-5))), 1e-5)
		}),
		both("rope_fwd", func(h *harness, dt DType) ([]namedComparison, error) { return ropeCheck(h, dt, false) }),
		both("rope_bwd", func(h *harness, dt DType) ([]namedComparison, error) { return ropeCheck(h, dt, true) }),
		both("softmax_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckSeq, dt, 8)
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			y, err := h.alloc(len(x) * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.Softmax(h.s, dt, y, px, ckRows, ckSeq, 0.125); err != nil {
				return nil, err
			}
			return outputs(h, dt, y, refSoftmax(x, ckRows, ckSeq, 0.125), 1e-5)
		}),
		both("softmax_bwd", func(h *harness, dt DType) ([]namedComparison, error) {
			y := refSoftmax(h.randn(ckRows*ckSeq, F32, 8), ckRows, ckSeq, 0.125)
			for i := range y {
				y[i] = roundTo(y[i], dt)
			}
			dy := h.randn(len(y), dt, 1)
			py, err := h.upload(y, dt)
			if err != nil {
				return nil, err
			}
			pdy, err := h.upload(dy, dt)
			if err != nil {
				return nil, err
			}
			dx, err := h.alloc(len(y) * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.SoftmaxBackward(h.s, dt, dx, pdy, py, ckRows, ckSeq, 0.125); err != nil {
				return nil, err
			}
			return outputs(h, dt, dx, refSoftmaxBackward(dy, y, ckRows, ckSeq, 0.125), 1e-5)
		}),
		both("stablemax_xent", func(h *harness, dt DType) ([]namedComparison, error) { return xentCheck(h, dt, Stablemax) }),
		both("softmax_xent", func(h *harness, dt DType) ([]namedComparison, error) { return xentCheck(h, dt, SoftmaxCE) }),
		both("argmax", func(h *harness, dt DType) ([]namedComparison, error) {
			rows := ckRows * 4
			x := h.randn(rows*ckV, dt, 2)
			for r := 0; r < rows; r += 7 { // exact ties: the first index must win
				x[r*ckV+3], x[r*ckV+9] = 50, 50
			}
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(rows * 4)
			if err != nil {
				return nil, err
			}
			if err := h.c.Argmax(h.s, dt, out, px, rows, ckV); err != nil {
				return nil, err
			}
			got, err := h.downloadInt32(out, rows)
			if err != nil {
				return nil, err
			}
			want := refArgmax(x, rows, ckV)
			gf, wf := make([]float32, rows), make([]float32, rows)
			for i := range got {
				gf[i], wf[i] = float32(got[i]), float32(want[i])
			}
			return one("index", compare(gf, wf, 0, 0)), nil
		}),
		both("embedding_fwd", func(h *harness, dt DType) ([]namedComparison, error) {
			table := h.randn(ckV*ckH, F32, 1)
			ids := make([]int32, ckRows)
			for i := range ids {
				ids[i] = int32(h.rng.IntN(ckV))
			}
			ids[5] = ckV // out of range: a row of NaN
			pt, err := h.upload(table, F32)
			if err != nil {
				return nil, err
			}
			pi, err := h.uploadInt32(ids)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(ckRows * ckH * dt.Size())
			if err != nil {
				return nil, err
			}
			if err := h.c.Embedding(h.s, dt, out, pt, pi, ckRows, ckH, ckV, 22.627417); err != nil {
				return nil, err
			}
			return outputs(h, dt, out, refEmbedding(table, ids, ckH, ckV, 22.627417), relFP32)
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
			pd, err := h.upload(dout, dt)
			if err != nil {
				return nil, err
			}
			pt, err := h.upload(dtable, F32)
			if err != nil {
				return nil, err
			}
			var g Groups
			g.U = len(uids)
			if g.Order, err = h.uploadInt32(order); err != nil {
				return nil, err
			}
			if g.Offsets, err = h.uploadInt32(offsets); err != nil {
				return nil, err
			}
			if g.UIDs, err = h.uploadInt32(uids); err != nil {
				return nil, err
			}
			if err := h.c.EmbeddingBackward(h.s, dt, pt, pd, g, ckH, 0.5, true); err != nil {
				return nil, err
			}
			got, err := h.download(pt, len(want), F32)
			if err != nil {
				return nil, err
			}
			atol, _ := tolFor(F32, want, 1e-5)
			return one("dtable", compare(got, want, atol, 1e-5)), nil
		}),
		{name: "adam_atan2", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			p, g := h.randn(n, F32, 0.05), h.randn(n, F32, 1e-3)
			m, v := h.randn(n, F32, 1e-4), make([]float32, n)
			for i := range v {
				v[i] = float32(math.Abs(float64(h.randn(1, F32, 1e-6)[0])))
			}
			g[0], m[0], v[0] = 0, 0, 0 // atan2(0, 0) = 0: only weight decay moves it
			a := NewAdamScalars(1e-4, 0.9, 0.95, 0.1, 7)
			ptrs := make([]DevPtr, 4)
			for i, x := range [][]float32{p, g, m, v} {
				var err error
				if ptrs[i], err = h.upload(x, F32); err != nil {
					return nil, err
				}
			}
			if err := h.c.AdamATan2(h.s, ptrs[0], ptrs[1], ptrs[2], ptrs[3], n, a); err != nil {
				return nil, err
			}
			refAdamATan2(p, g, m, v, a)
			var out []namedComparison
			for i, w := range []struct {
				name string
				x    []float32
			}{{"p", p}, {"m", m}, {"v", v}} {
				got, err := h.download(ptrs[[]int{0, 2, 3}[i]], n, F32)
				if err != nil {
					return nil, err
				}
				// The moment updates cancel where g and the old moment
				// nearly balance: the absolute part of the tolerance covers it.
				atol, _ := tolFor(F32, w.x, relFP32)
				out = append(out, namedComparison{w.name, compare(got, w.x, atol, relFP32)})
			}
			return out, nil
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
			pw, err := h.upload(w, F32)
			if err != nil {
				return nil, err
			}
			pg, err := h.upload(g, F32)
			if err != nil {
				return nil, err
			}
			pu, err := h.uploadInt32(uids)
			if err != nil {
				return nil, err
			}
			if err := h.c.SparseSignSGD(h.s, pw, pg, pu, U, ckH, 1e-2, 0.1); err != nil {
				return nil, err
			}
			refSparseSignSGD(w, g, uids, ckH, 1e-2, 0.1)
			got, err := h.download(pw, len(w), F32)
			if err != nil {
				return nil, err
			}
			atol, _ := tolFor(F32, w, relFP32)
			return one("w", compare(got, w, atol, relFP32)), nil
		}},
		{name: "ema", f32: true, run: func(h *harness, _ DType) ([]namedComparison, error) {
			n := ckRows * ckH
			sh, p := h.randn(n, F32, 1), h.randn(n, F32, 1)
			ps, err := h.upload(sh, F32)
			if err != nil {
				return nil, err
			}
			pp, err := h.upload(p, F32)
			if err != nil {
				return nil, err
			}
			if err := h.c.EMA(h.s, ps, pp, n, 0.999); err != nil {
				return nil, err
			}
			refEMA(sh, p, 0.999)
			got, err := h.download(ps, n, F32)
			if err != nil {
				return nil, err
			}
			atol, _ := tolFor(F32, sh, relFP32)
			return one("shadow", compare(got, sh, atol, relFP32)), nil
		}},
		both("sum", func(h *harness, dt DType) ([]namedComparison, error) {
			n := 3_000_017
			x := h.randn(n, dt, 1)
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(8)
			if err != nil {
				return nil, err
			}
			if err := h.c.Sum(h.s, dt, out, px, n); err != nil {
				return nil, err
			}
			got, err := h.downloadF64(out, 1)
			if err != nil {
				return nil, err
			}
			// fp64 sums of the same values in another order differ by
			// rounding only: far below 1e-9 of the sum of magnitudes.
			return one("sum", compare(got, []float64{refSum(x)}, 1e-9*float64(n), 0)), nil
		}),
		both("sum_rows", func(h *harness, dt DType) ([]namedComparison, error) {
			x := h.randn(ckRows*ckV, dt, 1)
			px, err := h.upload(x, dt)
			if err != nil {
				return nil, err
			}
			out, err := h.alloc(ckV * 4)
			if err != nil {
				return nil, err
			}
			if err := h.c.SumRows(h.s, dt, out, px, ckRows, ckV); err != nil {
				return nil, err
			}
			got, err := h.download(out, ckV, F32)
			if err != nil {
				return nil, err
			}
			return one("out", compare(got, refSumRows(x, ckRows, ckV), 1e-6, relFP32)), nil
		}),
	}
}

// binary checks out = f(a, b) elementwise.
func binary(h *harness, dt DType, ref func(a, b []float32) []float32,
	run func(s *Stream, dt DType, out, a, b DevPtr, n int) error) ([]namedComparison, error) {
	n := ckRows * ckH
	a, b := h.randn(n, dt, 1), h.randn(n, dt, 1)
	pa, err := h.upload(a, dt)
	if err != nil {
		return nil, err
	}
	pb, err := h.upload(b, dt)
	if err != nil {
		return nil, err
	}
	out, err := h.alloc(n * dt.Size())
	if err != nil {
		return nil, err
	}
	if err := run(h.s, dt, out, pa, pb, n); err != nil {
		return nil, err
	}
	return outputs(h, dt, out, ref(a, b), relFP32)
}

// outputs downloads one output and compares it with the dtype's tolerance.
func outputs(h *harness, dt DType, p DevPtr, want []float32, rel float64) ([]namedComparison, error) {
	got, err := h.download(p, len(want), dt)
	if err != nil {
		return nil, err
	}
	atol, rtol := tolFor(dt, want, rel)
	return one("out", compare(got, want, atol, rtol)), nil
}

// ropeCheck rotates q and k inside a fused qkv buffer [rows, 3*H*d] and
// checks that v is untouched.
func ropeCheck(h *harness, dt DType, backward bool) ([]namedComparison, error) {
	rows, stride := 4*ckL, 3*ckHeads*ckD
	cos, sin := refRoPETables(ckL, ckD, 10000)
	x := h.randn(rows*stride, dt, 1)
	px, err := h.upload(x, dt)
	if err != nil {
		return nil, err
	}
	pc, err := h.upload(cos, F32)
	if err != nil {
		return nil, err
	}
	ps, err := h.upload(sin, F32)
	if err != nil {
		return nil, err
	}
	a := RoPEArgs{Rows: rows, L: ckL, Heads: 2 * ckHeads, RowStride: stride, HeadDim: ckD, Cos: pc, Sin: ps}
	sign := 1.0
	if backward {
		sign = -1
		err = h.c.RoPEBackward(h.s, dt, px, px, a)
	} else {
		err = h.c.RoPE(h.s, dt, px, px, a)
	}
	if err != nil {
		return nil, err
	}
	return outputs(h, dt, px, refRoPE(x, cos, sin, rows, ckL, 2*ckHeads, stride, ckD, sign), relFP32)
}

func xentCheck(h *harness, dt DType, kind LossKind) ([]namedComparison, error) {
	rows := ckRows * 4
	logits := h.randn(rows*ckV, dt, 3)
	labels := make([]int32, rows)
	scale := make([]float32, rows)
	for i := range labels {
		labels[i] = int32(h.rng.IntN(ckV))
		scale[i] = float32(1 / float64(1+h.rng.IntN(900)))
	}
	labels[1], labels[2] = -100, -100
	pl, err := h.upload(logits, dt)
	if err != nil {
		return nil, err
	}
	plab, err := h.uploadInt32(labels)
	if err != nil {
		return nil, err
	}
	psc, err := h.upload(scale, F32)
	if err != nil {
		return nil, err
	}
	loss, err := h.alloc(rows * 8)
	if err != nil {
		return nil, err
	}
	dl, err := h.alloc(rows * ckV * 4)
	if err != nil {
		return nil, err
	}
	a := CrossEntropyArgs{Kind: kind, Loss: loss, DLogits: dl, Logits: pl, Labels: plab, RowScale: psc, Rows: rows, V: ckV, IgnoreIndex: -100}
	if err := h.c.CrossEntropy(h.s, dt, a); err != nil {
		return nil, err
	}
	wl, wd := refCrossEntropy(kind, logits, labels, scale, rows, ckV, -100)
	gl, err := h.downloadF64(loss, rows)
	if err != nil {
		return nil, err
	}
	gd, err := h.download(dl, rows*ckV, F32)
	if err != nil {
		return nil, err
	}
	lossTol := 1e-12 // stablemax runs in fp64 on both sides
	if kind == SoftmaxCE {
		lossTol = 1e-5
	}
	atol, _ := tolFor(F32, wd, 1e-5)
	return []namedComparison{
		{"loss", compare(gl, wl, lossTol, lossTol)},
		{"dlogits", compare(gd, wd, atol, 1e-5)},
	}, nil
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
