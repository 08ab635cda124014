package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
)

func TestFakeGPUBackendMatchesCPU(t *testing.T) { backendMatchesCPU(t, openFakeGPU(t, true)) }
func TestGPUBackendMatchesCPU(t *testing.T)     { backendMatchesCPU(t, openTestGPU(t)) }

func newTestBackend(t *testing.T, c *Context, opts BackendOptions) *Backend {
	t.Helper()
	be, err := NewBackend(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	})
	return be
}

// backendOp is one operation run on both backends over the same random
// buffers: sizes are the buffers (filled with N(0, 1) values, from the
// backend's Alloc), outs the indexes of those compared afterwards.
type backendOp struct {
	name  string
	sizes []int
	outs  []int
	run   func(be kernels.Backend[float32], x [][]float32)
	rel   float64 // relative tolerance (tolFor); 0 = 2e-5
}

// backendMatchesCPU runs every kernels.Backend operation on the GPU
// backend and on the CPU backend and compares the results: shapes that
// exercise strides, batches, aliasing and the optional arguments.
func backendMatchesCPU(t *testing.T, c *Context) {
	gpu := newTestBackend(t, c, BackendOptions{})
	host := cpu.New32(2)
	defer host.Close()

	const rows, dim, inter, vocab = 37, 24, 20, 7
	const batch, seq, heads, hd = 3, 5, 2, 8
	w := heads * hd
	ids := []int32{3, 0, 3, 6, 1, 3, 0}
	labels := make([]int32, rows)
	scale := make([]float64, rows)
	for i := range labels {
		labels[i] = int32(i % vocab)
		scale[i] = 1 / float64(1+i%5)
	}
	labels[2], labels[9] = kernels.IgnoreLabel, kernels.IgnoreLabel
	cos, sin := kernels.RoPETables[float32](seq, hd, 10000)
	adam := kernels.NewAdamATan2Scalars(1e-3, 0.9, 0.95, 0.1, 3)
	// The rotation both ways, with the tables in the backend's buffers.
	ropeOp := func(name string, rope func(kernels.Backend[float32], []float32, int, int, int, int, int, []float32, []float32)) backendOp {
		return backendOp{name: name, sizes: []int{batch * seq * 3 * w, seq * hd, seq * hd}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) {
				copy(x[1], cos)
				copy(x[2], sin)
				be.ToDevice(x[1])
				be.ToDevice(x[2])
				rope(be, x[0], batch*seq, 3*w, 2*heads, hd, seq, x[1], x[2])
			}}
	}

	ops := []backendOp{
		{name: "gemm nn, strided, beta", sizes: []int{rows * 30, 30 * 16, rows * 20}, outs: []int{2},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Gemm(false, false, rows, 14, 25, 0.5, x[0], 30, x[1], 16, 0.25, x[2], 20)
			}},
		{name: "gemm nt", sizes: []int{rows * dim, inter * dim, rows * inter}, outs: []int{2},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Gemm(false, true, rows, inter, dim, 1, x[0], dim, x[1], dim, 0, x[2], inter)
			}},
		{name: "gemm tn", sizes: []int{rows * dim, rows * inter, dim * inter}, outs: []int{2},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Gemm(true, false, dim, inter, rows, 1, x[0], dim, x[1], inter, 1, x[2], inter)
			}},
		{name: "gemm tt", sizes: []int{dim * rows, inter * dim, rows * inter}, outs: []int{2},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Gemm(true, true, rows, inter, dim, 2, x[0], rows, x[1], dim, 0, x[2], inter)
			}},
		{name: "gather", sizes: []int{vocab * dim, len(ids) * dim}, outs: []int{1},
			run: func(be kernels.Backend[float32], x [][]float32) { be.Gather(x[1], x[0], ids, dim, 1.5) }},
		{name: "scatter-add, repeated ids", sizes: []int{vocab * dim, len(ids) * dim}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) { be.ScatterAdd(x[0], x[1], ids, dim, 0.5) }},
		{name: "to-device rows, repeated ids", sizes: []int{vocab * dim}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) {
				// Row 5 changes on the host only while the rows are sent:
				// a backend that sent more than rows 0, 3 and 6 would put
				// the changed row 5 on the device.
				orig := slices.Clone(x[0][5*dim : 6*dim])
				for _, r := range []int{0, 3, 5, 6} {
					for j := range dim {
						x[0][r*dim+j] = float32(r*100 + j)
					}
				}
				be.ToDeviceRows(x[0], dim, []int32{3, 0, 6, 3})
				copy(x[0][5*dim:], orig)
			}},
		{name: "copy, zero, copy rows", sizes: []int{rows * dim, rows * dim, rows * dim, rows * dim}, outs: []int{0, 2, 3},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Copy(x[0][dim:], x[1][:len(x[1])-dim])
				be.Zero(x[2][3:])
				be.CopyRows(x[3][5:], dim, x[1], dim+1, rows-3, dim-6)
			}},
		{name: "add in place", sizes: []int{rows * dim, rows * dim}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) { be.Add(x[0], x[0], x[1]) }},
		{name: "transpose", sizes: []int{batch * seq * dim, batch * seq * dim}, outs: []int{1},
			run: func(be kernels.Backend[float32], x [][]float32) { be.Transpose(x[1], x[0], batch, seq, dim) }},
		{name: "rmsnorm", sizes: []int{rows * dim, rows, rows * dim}, outs: []int{0, 1},
			run: func(be kernels.Backend[float32], x [][]float32) { be.RMSNorm(x[0], x[1], x[2], rows, dim, 1e-5) }},
		{name: "add+rmsnorm into an operand", sizes: []int{rows * dim, rows, rows * dim}, outs: []int{0, 1},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.AddRMSNorm(x[0], x[1], x[0], x[2], rows, dim, 1e-5)
			}},
		{name: "rmsnorm backward", sizes: []int{rows * dim, rows * dim, rows * dim, rows}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.RMSNorm(x[2], x[3], x[2], rows, dim, 1e-5) // a real output and rstd
				be.RMSNormBackward(x[0], x[1], x[2], x[3], rows, dim)
			}},
		ropeOp("rope", kernels.Backend[float32].RoPE),
		ropeOp("rope backward", kernels.Backend[float32].RoPEBackward),
		{name: "attention", sizes: []int{batch * seq * w, batch * heads * seq * seq, batch * seq * 3 * w}, outs: []int{0, 1},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Attention(x[0], x[1], x[2], batch, seq, heads, hd)
			}},
		{name: "attention backward",
			sizes: []int{batch * seq * 3 * w, batch * heads * seq * seq, batch * seq * w, batch * heads * seq * seq, batch * seq * 3 * w, batch * seq * w},
			outs:  []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.Attention(x[5], x[3], x[4], batch, seq, heads, hd) // real probabilities
				be.AttentionBackward(x[0], x[1], x[2], x[3], x[4], batch, seq, heads, hd)
			}},
		{name: "swiglu", sizes: []int{rows * inter, rows * 2 * inter}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) { be.SwiGLU(x[0], x[1], rows, inter) }},
		{name: "swiglu backward", sizes: []int{rows * 2 * inter, rows * inter, rows * 2 * inter}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) { be.SwiGLUBackward(x[0], x[1], x[2], rows, inter) }},
		{name: "mlp, intermediates kept", sizes: []int{rows * dim, rows * dim, 2 * inter * dim, dim * inter, rows * 2 * inter, rows * inter},
			outs: []int{0, 4, 5},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.MLP(x[0], x[1], x[2], x[3], x[4], x[5], rows, dim, inter)
			}},
		{name: "mlp, scratch intermediates", sizes: []int{rows * dim, rows * dim, 2 * inter * dim, dim * inter}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) {
				be.MLP(x[0], x[1], x[2], x[3], nil, nil, rows, dim, inter)
			}},
		{name: "stablemax cross-entropy", sizes: []int{rows * vocab, rows * vocab, rows}, outs: []int{1, 2},
			run: func(be kernels.Backend[float32], x [][]float32) {
				loss := make([]float64, rows)
				be.StablemaxCrossEntropy(loss, x[1], x[0], labels, scale, rows, vocab)
				for i, l := range loss {
					x[2][i] = float32(l)
				}
				be.ToDevice(x[2]) // the losses come back on the host
			}},
		{name: "softmax cross-entropy, no gradient", sizes: []int{rows * vocab, rows}, outs: []int{1},
			run: func(be kernels.Backend[float32], x [][]float32) {
				loss := make([]float64, rows)
				be.SoftmaxCrossEntropy(loss, nil, x[0], labels, nil, rows, vocab)
				for i, l := range loss {
					x[1][i] = float32(l)
				}
				be.ToDevice(x[1])
			}},
		{name: "adam-atan2", sizes: []int{rows * dim, rows * dim, rows * dim, rows * dim}, outs: []int{0, 2, 3},
			run: func(be kernels.Backend[float32], x [][]float32) {
				for i := range x[3] {
					x[3][i] = float32(math.Abs(float64(x[3][i]))) // a second moment is not negative
				}
				be.ToDevice(x[3])
				be.AdamATan2(x[0], x[1], x[2], x[3], adam)
			}},
		{name: "ema", sizes: []int{rows * dim, rows * dim}, outs: []int{0},
			run: func(be kernels.Backend[float32], x [][]float32) { be.Lerp(x[0], x[1], 0.999) }},
	}
	for i, op := range ops {
		fill := func(be kernels.Backend[float32]) [][]float32 {
			r := rand.New(rand.NewPCG(uint64(i), 99))
			x := make([][]float32, len(op.sizes))
			for j, n := range op.sizes {
				x[j] = be.Alloc(n)
				for k := range x[j] {
					x[j][k] = float32(r.NormFloat64())
				}
				be.ToDevice(x[j])
			}
			return x
		}
		want, got := fill(host), fill(gpu)
		op.run(host, want)
		op.run(gpu, got)
		for _, o := range op.outs {
			gpu.ToHost(got[o])
		}
		if err := gpu.Err(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		rel := op.rel
		if rel == 0 {
			rel = 2e-5
		}
		for _, o := range op.outs {
			atol, rtol := tolFor(F32, want[o], rel)
			if r := compare(got[o], want[o], atol, rtol); !r.OK() {
				t.Errorf("%s, buffer %d: %d of %d values outside tolerance (max abs %.3g, max rel %.3g)", op.name, o, r.Bad, r.N, r.MaxAbs, r.MaxRel)
			}
		}
	}
}

func TestFakeGPUBackendRefusesForeignBuffers(t *testing.T) {
	c := openFakeGPU(t, true)
	be := newTestBackend(t, c, BackendOptions{})
	own, foreign := be.Alloc(8), make([]float32, 8)
	be.Add(own, own, foreign)
	err := be.Err()
	if err == nil || !strings.Contains(err.Error(), "add b is not a buffer from this backend's Alloc") {
		t.Fatalf("Add with a Go slice: err = %v", err)
	}
	// Every later operation does nothing and the first error stays: the
	// host value differs from the device's zero, and ToHost leaves it.
	own[0] = 1
	be.Add(own, own, own)
	be.ToHost(own)
	if own[0] != 1 || be.Err() != err {
		t.Errorf("an operation ran after a failure (own[0] = %v, err = %v)", own[0], be.Err())
	}

	be2 := newTestBackend(t, c, BackendOptions{})
	short := be2.Alloc(4)
	be2.Add(short, short, be2.Alloc(8)[:6])
	if err := be2.Err(); err != nil {
		t.Fatalf("add over %d values: %v", len(short), err)
	}
	be2.RMSNorm(short, short, short, 2, 4, 1e-5)
	if err := be2.Err(); err == nil || !strings.Contains(err.Error(), "rmsnorm out holds 4 values, the operation needs 8") {
		t.Errorf("rmsnorm over a short buffer: err = %v", err)
	}

	// A buffer larger than the device (the fake has 16 GiB) fails with the
	// driver's error and what the backend held, and costs the host nothing.
	be4 := newTestBackend(t, c, BackendOptions{})
	be4.Alloc(1 << 20)
	if huge := be4.Alloc(5 << 30); len(huge) != 5<<30 {
		t.Errorf("Alloc after a failure: %d values, want %d", len(huge), 5<<30)
	}
	if err := be4.Err(); err == nil || !strings.Contains(err.Error(), "allocating 21474836480 bytes on the device: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2) (this backend holds 0.1 GiB; the device has 8.0 GiB free of 16.0)") {
		t.Errorf("allocating 20 GiB: err = %v", err)
	}

	// Rows beyond the buffer, the largest id included, are refused before
	// anything is packed.
	for _, id := range []int32{2, -1, math.MaxInt32} {
		be3 := newTestBackend(t, c, BackendOptions{})
		be3.ToDeviceRows(be3.Alloc(8), 4, []int32{1, id})
		if err := be3.Err(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("to-device rows: ids[1] = %d outside the buffer of 2 rows", id)) {
			t.Errorf("to-device row %d of 2: err = %v", id, err)
		}
	}
}

func TestFakeGPUBackendTrainsAsTheCPU(t *testing.T) { trainsAsTheCPU(t, openFakeGPU(t, true)) }
func TestGPUBackendTrainsAsTheCPU(t *testing.T)     { trainsAsTheCPU(t, openTestGPU(t)) }

// trainRun is what trainsAsTheCPU compares: every step's loss, the
// gradients of the first backward (before any update) and the parameters
// and EMA shadow, and the puzzle table, at the end.
type trainRun struct {
	losses             []float64
	grads, params, emb []float32
	preds              []int32 // the first step's argmax
	accuracy           float64 // and its token accuracy
}

// trainsAsTheCPU runs a few training steps of a small TRM (both block
// variants) on the GPU backend and on the CPU backend from the same seed.
// The first step's gradients must agree to float32 rounding: the whole
// forward and backward, the transfers around the model's host reads and
// writes included. Over the following steps the runs may drift apart a little, for a reason
// that is not a fault: the sign-based optimisers (AdamATan2 normalises
// each update, sign-SGD takes signs) turn rounding noise in a near-zero
// gradient into a full step of either sign, so the first loss is compared
// to 1e-5, later ones to 1e-3, and parameters to 1e-4 of their scale plus
// 2·lr per step (their optimiser's lr). A second
// GPU run must repeat the first bit for bit.
func trainsAsTheCPU(t *testing.T, c *Context) {
	const steps, lr, embLR = 6, 1e-3, 1e-2
	for _, mlpT := range []bool{false, true} {
		cfg := model.DefaultConfig()
		cfg.BatchSize, cfg.SeqLen, cfg.VocabSize = 4, 9, 6
		cfg.HiddenSize, cfg.NumHeads, cfg.Expansion = 16, 2, 2
		cfg.PuzzleEmbNdim, cfg.NumPuzzleIdentifiers = 16, 5
		cfg.HCycles, cfg.LCycles, cfg.LLayers = 2, 2, 2
		cfg.HaltMaxSteps, cfg.HaltExplorationProb = 3, 0.5
		cfg.MLPT = mlpT
		if mlpT {
			cfg.PosEncodings = "none"
		}
		r := rand.New(rand.NewPCG(5, 6))
		batches := make([]*model.Batch, steps)
		for i := range batches {
			b := &model.Batch{Inputs: make([]int32, 36), Labels: make([]int32, 36), PuzzleIdentifiers: make([]int32, 4)}
			for j := range b.Inputs {
				b.Inputs[j] = int32(r.IntN(cfg.VocabSize))
				b.Labels[j] = int32(r.IntN(cfg.VocabSize))
			}
			for j := range b.PuzzleIdentifiers {
				b.PuzzleIdentifiers[j] = int32(r.IntN(cfg.NumPuzzleIdentifiers))
			}
			batches[i] = b
		}
		run := func(be kernels.Backend[float32]) trainRun {
			m, err := model.New(cfg, be, 7)
			if err != nil {
				t.Fatal(err)
			}
			// q_head starts at zero weights, which would hide a q logit
			// read before the device computed it: give it some, on the host.
			qr := rand.New(rand.NewPCG(8, 9))
			for i, q := 0, m.Tensor("q_head.weight").Data; i < len(q); i++ {
				q[i] = float32(0.05 * qr.NormFloat64())
			}
			m.SyncToDevice()
			adam, sgd, ema := model.NewAdamATan2(m, 0.9, 0.95, 0.1), model.NewSignSGD[float32](0.1), model.NewEMA(m, 0.99)
			carry := m.NewCarry()
			var res trainRun
			for i, b := range batches {
				out, err := m.Forward(carry, b, true)
				if err != nil {
					t.Fatal(err)
				}
				res.losses = append(res.losses, out.Loss)
				if i == 0 {
					res.preds, res.accuracy = slices.Clone(out.Preds), out.Metrics.Accuracy
				}
				if err := m.Backward(0.25); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					be.ToHost(m.Grads)
					res.grads = append(append([]float32(nil), m.Grads...), m.PuzzleEmbGrad...)
				}
				if err := sgd.Step(m, embLR); err != nil {
					t.Fatal(err)
				}
				adam.Step(lr)
				ema.Update()
			}
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
			be.ToHost(m.Params)
			be.ToHost(ema.Shadow)
			res.params = append(append([]float32(nil), m.Params...), ema.Shadow...)
			res.emb = append([]float32(nil), m.PuzzleEmb...)
			return res
		}
		host := cpu.New32(2)
		want := run(host)
		host.Close()
		got := run(newTestBackend(t, c, BackendOptions{}))
		name := map[bool]string{false: "attention", true: "mlp_t"}[mlpT]

		if !slices.Equal(got.preds, want.preds) || got.accuracy != want.accuracy {
			t.Errorf("%s: first-step predictions or accuracy differ (accuracy %v on the GPU backend, %v on the CPU)", name, got.accuracy, want.accuracy)
		}
		atol, rtol := tolFor(F32, want.grads, 1e-4)
		if r := compare(got.grads, want.grads, atol, rtol); !r.OK() {
			t.Errorf("%s: %d of %d first-step gradients differ (max abs %.3g, scale %.3g)", name, r.Bad, r.N, r.MaxAbs, maxAbs(want.grads))
		}
		for i := range want.losses {
			tol := 1e-5 // the first step: the same weights
			if i > 0 {
				tol = 1e-3
			}
			if d := math.Abs(got.losses[i] - want.losses[i]); d > tol*math.Max(1, math.Abs(want.losses[i])) {
				t.Errorf("%s step %d: loss %.7g on the GPU backend, %.7g on the CPU", name, i+1, got.losses[i], want.losses[i])
			}
		}
		for _, p := range []struct {
			what      string
			got, want []float32
			lr        float64
		}{{"parameters and EMA", got.params, want.params, lr}, {"puzzle embeddings", got.emb, want.emb, embLR}} {
			atol, rtol = tolFor(F32, p.want, 1e-4)
			if r := compare(p.got, p.want, atol+2*p.lr*steps, rtol); !r.OK() {
				t.Errorf("%s: %d of %d %s differ after %d steps (max abs %.3g)", name, r.Bad, r.N, p.what, steps, r.MaxAbs)
			}
		}
		// Same seed, same bytes on the GPU too: no atomics, fixed
		// reduction orders, cuBLAS's deterministic algorithms.
		again := run(newTestBackend(t, c, BackendOptions{}))
		if !slices.Equal(again.losses, got.losses) || !slices.Equal(again.params, got.params) || !slices.Equal(again.emb, got.emb) {
			t.Errorf("%s: two GPU runs from the same seed differ", name)
		}
		// Tensor-core GEMMs: the first step to the precision of their
		// rounded inputs (TF32 about 1e-3, bf16 about 4e-3 per product),
		// visibly not fp32's nor each other's; the drift described above is
		// larger with them, so later steps are only required to stay finite.
		rounded := map[Math]trainRun{}
		for _, mode := range []struct {
			math             Math
			label            string
			gradTol, lossTol float64
		}{{MathTF32, "TF32 GEMMs", 1e-2, 5e-3}, {MathBF16, "bf16 GEMMs", 1e-1, 2e-2}} {
			be := newTestBackend(t, c, BackendOptions{Math: mode.math})
			if !strings.Contains(be.Name(), mode.label) {
				t.Errorf("backend name %q does not say %s", be.Name(), mode.label)
			}
			r := run(be)
			rounded[mode.math] = r
			atol, rtol = tolFor(F32, want.grads, mode.gradTol)
			if c := compare(r.grads, want.grads, atol, rtol); !c.OK() || slices.Equal(r.grads, got.grads) {
				t.Errorf("%s: first-step gradients with %s: %d of %d outside %g (max abs %.3g); equal to fp32's: %v",
					name, mode.label, c.Bad, c.N, mode.gradTol, c.MaxAbs, slices.Equal(r.grads, got.grads))
			}
			if d := math.Abs(r.losses[0] - want.losses[0]); d > mode.lossTol*math.Abs(want.losses[0]) {
				t.Errorf("%s step 1: loss %.7g with %s, %.7g on the CPU", name, r.losses[0], mode.label, want.losses[0])
			}
			for i, l := range r.losses {
				if math.IsNaN(l) || math.IsInf(l, 0) {
					t.Errorf("%s step %d: loss %v with %s", name, i+1, l, mode.label)
				}
			}
			t.Logf("%s, %s: first-step gradients within %.3g of the CPU's (scale %.3g), loss %.7g vs %.7g",
				name, mode.label, compare(r.grads, want.grads, 0, 0).MaxAbs, maxAbs(want.grads), r.losses[0], want.losses[0])
		}
		if slices.Equal(rounded[MathTF32].grads, rounded[MathBF16].grads) {
			t.Errorf("%s: the same gradients with TF32 and bf16 GEMMs: the compute type did not reach cuBLAS", name)
		}
		t.Logf("%s: %d steps, losses %.6g ... %.6g on both backends", name, steps, want.losses[0], want.losses[steps-1])
	}
}
