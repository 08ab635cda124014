package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
)

// TestReferencesMatchCPUBackend binds the reference loops that `trm gpu
// check` holds the CUDA kernels to, to the CPU backend (float64, the one
// used for gradient checks) through kernels.Backend: GPU kernel == reference
// (on a GPU) and reference == CPU backend (here) make the CUDA backend the
// CPU backend's twin.
func TestReferencesMatchCPUBackend(t *testing.T) {
	var be kernels.Backend[float64] = cpu.New64(1)
	r := rand.New(rand.NewPCG(11, 12))
	f64 := func(x []float32) []float64 {
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	}
	check := func(name string, got []float64, want []float32) {
		t.Helper()
		g32 := make([]float32, len(got))
		for i, v := range got {
			g32[i] = float32(v)
		}
		atol, rtol := tolFor(F32, want, 1e-6)
		if c := compare(g32, want, atol, rtol); !c.OK() {
			t.Errorf("%s: reference and CPU backend differ: %+v", name, c)
		}
	}
	const rows, D, I, V = 37, 64, 48, 12

	x, y := randVec(r, rows*D, 2), randVec(r, rows*D, 1)
	out := make([]float64, rows*D)
	be.Add(out, f64(x), f64(y))
	check("add", out, refAdd(x, y))
	be.Transpose(out, f64(x), 1, rows, D)
	check("transpose", out, refTranspose(x, 1, rows, D))

	rstd := make([]float64, rows)
	be.RMSNorm(out, rstd, f64(x), rows, D, 1e-5)
	wy, wr := refRMSNorm(x, rows, D, 1e-5)
	check("rmsnorm", out, wy)
	check("rmsnorm rstd", rstd, wr)
	din := make([]float64, rows*D)
	be.RMSNormBackward(din, f64(y), out, rstd, rows, D)
	check("rmsnorm backward", din, refRMSNormBackward(y, wy, wr, rows, D))

	gu, dout := randVec(r, rows*2*I, 2), randVec(r, rows*I, 1)
	sw := make([]float64, rows*I)
	be.SwiGLU(sw, f64(gu), rows, I)
	check("swiglu", sw, refSwiGLU(gu, rows, I))
	dgu := make([]float64, rows*2*I)
	be.SwiGLUBackward(dgu, f64(dout), f64(gu), rows, I)
	check("swiglu backward", dgu, refSwiGLUBackward(dout, gu, rows, I))

	const L, heads, hd = 5, 2, 16
	stride := 3 * heads * hd
	q := randVec(r, 4*L*stride, 1)
	cos, sin := refRoPETables(L, hd, 10000)
	qb := f64(q)
	be.RoPE(qb, 4*L, stride, 2*heads, hd, L, f64(cos), f64(sin))
	check("rope", qb, refRoPE(q, cos, sin, 4*L, L, 2*heads, stride, hd, 1))
	qb = f64(q)
	be.RoPEBackward(qb, 4*L, stride, 2*heads, hd, L, f64(cos), f64(sin))
	check("rope backward", qb, refRoPE(q, cos, sin, 4*L, L, 2*heads, stride, hd, -1))

	logits := randVec(r, rows*V, 3)
	labels := make([]int32, rows)
	scale := make([]float64, rows)
	for i := range labels {
		labels[i] = int32(r.IntN(V))
		scale[i] = 1 / float64(1+r.IntN(9))
	}
	labels[3] = -100
	for _, kind := range []LossKind{Stablemax, SoftmaxCE} {
		loss, dl := make([]float64, rows), make([]float64, rows*V)
		if kind == Stablemax {
			be.StablemaxCrossEntropy(loss, dl, f64(logits), labels, scale, rows, V)
		} else {
			be.SoftmaxCrossEntropy(loss, dl, f64(logits), labels, scale, rows, V)
		}
		wl, wd := refCrossEntropy(kind, logits, labels, scale, rows, V, -100)
		name := [...]string{"stablemax", "softmax"}[kind]
		if c := compare(loss, wl, 1e-9, 1e-9); !c.OK() {
			t.Errorf("%s loss: %+v", name, c)
		}
		check(name+" dlogits", dl, wd)
	}

	table := randVec(r, V*D, 1)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(r.IntN(V))
	}
	emb := make([]float64, rows*D)
	be.Gather(emb, f64(table), ids, D, 22.5)
	check("gather", emb, refEmbedding(table, ids, D, V, 22.5))
	dtable, want := make([]float64, V*D), make([]float32, V*D)
	be.ScatterAdd(dtable, f64(x), ids, D, 0.5)
	refEmbeddingBackward(want, x, ids, D, 0.5)
	check("scatter-add", dtable, want)

	p, g, m, v := randVec(r, 500, 0.1), randVec(r, 500, 1e-3), randVec(r, 500, 1e-4), randVec(r, 500, 1e-3)
	for i := range v {
		v[i] *= v[i]
	}
	pb, mb, vb := f64(p), f64(m), f64(v)
	be.AdamATan2(pb, f64(g), mb, vb, kernels.NewAdamATan2Scalars(1e-3, 0.9, 0.95, 0.1, 3))
	refAdamATan2(p, g, m, v, NewAdamScalars(1e-3, 0.9, 0.95, 0.1, 3))
	check("adam p", pb, p)
	check("adam m", mb, m)
	check("adam v", vb, v)

	sh := randVec(r, 500, 1)
	shb := f64(sh)
	be.Lerp(shb, f64(p), 0.999)
	refEMA(sh, p, 0.999)
	check("ema", shb, sh)
}
