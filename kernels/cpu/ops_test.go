package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyrecursion/trm/kernels"
)

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func weightedSum(w, y []float64) float64 {
	var s float64
	for i := range w {
		s += w[i] * y[i]
	}
	return s
}

// fdCheck compares analytic, the gradient of f with respect to x, with
// central differences of f.
func fdCheck(t *testing.T, name string, x []float64, f func() float64, analytic []float64) {
	t.Helper()
	const h = 1e-6
	worst := 0.0
	for i := range x {
		old := x[i]
		x[i] = old + h
		up := f()
		x[i] = old - h
		down := f()
		x[i] = old
		fd := (up - down) / (2 * h)
		err := math.Abs(fd-analytic[i]) / math.Max(1e-7, math.Abs(fd)+math.Abs(analytic[i]))
		worst = math.Max(worst, err)
		if err > 1e-6 {
			t.Errorf("%s: d/dx[%d] backward %.10g, finite difference %.10g", name, i, analytic[i], fd)
		}
	}
	t.Logf("%s: worst relative disagreement %.2g over %d inputs", name, worst, len(x))
}

// The layer gradient checks run the float64 backend with 3 workers, so the
// parallel splitting is exercised too.
func TestRMSNormGradient(t *testing.T) {
	be, rng := New64(3), rand.New(rand.NewPCG(1, 1))
	const rows, dim = 4, 7
	x, w := randVec(rng, rows*dim), randVec(rng, rows*dim)
	out, rstd := make([]float64, rows*dim), make([]float64, rows)
	f := func() float64 { be.RMSNorm(out, rstd, x, rows, dim, 1e-5); return weightedSum(w, out) }
	f()
	dx := make([]float64, rows*dim)
	be.RMSNormBackward(dx, w, out, rstd, rows, dim)
	fdCheck(t, "rmsnorm", x, f, dx)
}

func TestRoPEGradient(t *testing.T) {
	be, rng := New64(3), rand.New(rand.NewPCG(1, 2))
	const seq, rows, stride, heads, d = 3, 6, 11, 2, 4
	cos, sin := kernels.RoPETables[float64](seq, d, 10000)
	x, w := randVec(rng, rows*stride), randVec(rng, rows*stride)
	y := make([]float64, len(x))
	f := func() float64 {
		copy(y, x)
		be.RoPE(y, rows, stride, heads, d, seq, cos, sin)
		return weightedSum(w, y)
	}
	dx := append([]float64(nil), w...)
	be.RoPEBackward(dx, rows, stride, heads, d, seq, cos, sin)
	fdCheck(t, "rope", x, f, dx)
	// Columns beyond the rotated heads pass through untouched.
	f()
	for r := 0; r < rows; r++ {
		for c := heads * d; c < stride; c++ {
			if y[r*stride+c] != x[r*stride+c] {
				t.Fatalf("rope changed column %d of row %d", c, r)
			}
		}
	}
}

func TestAttentionGradient(t *testing.T) {
	be, rng := New64(3), rand.New(rand.NewPCG(1, 3))
	const batch, seq, heads, d = 2, 3, 2, 4
	n := batch * seq
	qkv, w := randVec(rng, n*3*heads*d), randVec(rng, n*heads*d)
	out, probs := make([]float64, n*heads*d), make([]float64, batch*heads*seq*seq)
	f := func() float64 { be.Attention(out, probs, qkv, batch, seq, heads, d); return weightedSum(w, out) }
	f()
	dqkv, dprobs := make([]float64, len(qkv)), make([]float64, len(probs))
	be.AttentionBackward(dqkv, dprobs, w, probs, qkv, batch, seq, heads, d)
	fdCheck(t, "attention", qkv, f, dqkv)
}

func TestSwiGLUGradient(t *testing.T) {
	be, rng := New64(3), rand.New(rand.NewPCG(1, 4))
	const rows, inter = 3, 5
	gu, w := randVec(rng, rows*2*inter), randVec(rng, rows*inter)
	out := make([]float64, rows*inter)
	f := func() float64 { be.SwiGLU(out, gu, rows, inter); return weightedSum(w, out) }
	dgu := make([]float64, len(gu))
	be.SwiGLUBackward(dgu, w, gu, rows, inter)
	fdCheck(t, "swiglu", gu, f, dgu)
}

func crossEntropyCase(t *testing.T, name string, fn func(loss []float64, dlogits, logits []float64, labels []int32, scale []float64, rows, vocab int)) {
	rng := rand.New(rand.NewPCG(1, 5))
	const rows, vocab = 5, 6
	logits := randVec(rng, rows*vocab)
	logits[0], logits[1] = 0, -1e-3 // both sides of stablemax's joint at 0
	labels := []int32{2, kernels.IgnoreLabel, 0, 5, 1}
	scale := []float64{0.5, 2, 1, 0.25, 3}
	loss := make([]float64, rows)
	f := func() float64 { fn(loss, nil, logits, labels, scale, rows, vocab); return weightedSum(scale, loss) }
	dl := make([]float64, len(logits))
	fn(loss, dl, logits, labels, scale, rows, vocab)
	if loss[1] != 0 {
		t.Errorf("%s: ignored row has loss %v", name, loss[1])
	}
	for v := 0; v < vocab; v++ {
		if dl[vocab+v] != 0 {
			t.Errorf("%s: ignored row has gradient %v", name, dl[vocab+v])
		}
	}
	fdCheck(t, name, logits, f, dl)
}

func TestStablemaxCrossEntropyGradient(t *testing.T) {
	crossEntropyCase(t, "stablemax", New64(3).StablemaxCrossEntropy)
}

func TestSoftmaxCrossEntropyGradient(t *testing.T) {
	crossEntropyCase(t, "softmax", New64(3).SoftmaxCrossEntropy)
}

// TestStablemaxValues checks the loss against the definition for a few
// hand-computed rows.
func TestStablemaxValues(t *testing.T) {
	logits := []float64{1, -1, 0} // s = 2, 1/2, 1: Σ = 3.5
	loss := make([]float64, 1)
	for label, s := range []float64{2, 0.5, 1} {
		kernels.StablemaxRows(loss, nil, logits, []int32{int32(label)}, nil, 3, 0, 1)
		if want := -math.Log(s / 3.5); math.Abs(loss[0]-want) > 1e-15 {
			t.Errorf("label %d: loss %v, want %v", label, loss[0], want)
		}
	}
}

func TestBCEWithLogitsGradient(t *testing.T) {
	for _, x := range []float64{-7, -0.3, 0.2, 4} {
		for _, y := range []float64{0, 1} {
			const h = 1e-6
			up, _ := kernels.BCEWithLogits(x+h, y)
			down, _ := kernels.BCEWithLogits(x-h, y)
			l, g := kernels.BCEWithLogits(x, y)
			if fd := (up - down) / (2 * h); math.Abs(fd-g) > 1e-8 {
				t.Errorf("BCE'(%v, %v) = %v, finite difference %v", x, y, g, fd)
			}
			p := 1 / (1 + math.Exp(-x))
			if want := -(y*math.Log(p) + (1-y)*math.Log(1-p)); math.Abs(l-want) > 1e-12 {
				t.Errorf("BCE(%v, %v) = %v, want %v", x, y, l, want)
			}
		}
	}
}

func TestGatherScatterAddGradient(t *testing.T) {
	be, rng := New64(3), rand.New(rand.NewPCG(1, 6))
	const rows, dim = 4, 5
	ids := []int32{3, 0, 3, 1, 3}
	table, w := randVec(rng, rows*dim), randVec(rng, len(ids)*dim)
	out := make([]float64, len(ids)*dim)
	f := func() float64 { be.Gather(out, table, ids, dim, 1.5); return weightedSum(w, out) }
	dt := make([]float64, len(table))
	be.ScatterAdd(dt, w, ids, dim, 1.5)
	fdCheck(t, "gather", table, f, dt)
}

func TestTransposeAndAdd(t *testing.T) {
	be := New32(3)
	in := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // 2 matrices of 2×3
	out := make([]float32, len(in))
	be.Transpose(out, in, 2, 2, 3)
	want := []float32{1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("transpose = %v, want %v", out, want)
		}
	}
	be.Add(out, out, in)
	for i := range want {
		if out[i] != want[i]+in[i] {
			t.Fatalf("add = %v", out)
		}
	}
}

// TestWorkerCountInvariance runs the float32 backend with 1 and 5 workers
// and requires bit-identical results (same seed, same bytes).
func TestWorkerCountInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const batch, seq, heads, d = 3, 7, 2, 4
	n := batch * seq
	width := heads * d
	qkv := make([]float32, n*3*width)
	for i := range qkv {
		qkv[i] = float32(rng.NormFloat64())
	}
	run := func(workers int) []float32 {
		be := New32(workers)
		defer be.Close()
		x := append([]float32(nil), qkv...)
		cos, sin := kernels.RoPETables[float32](seq, d, 10000)
		be.RoPE(x, n, 3*width, 2*heads, d, seq, cos, sin)
		out, probs := make([]float32, n*width), make([]float32, batch*heads*seq*seq)
		be.Attention(out, probs, x, batch, seq, heads, d)
		y, rstd := make([]float32, n*width), make([]float32, n)
		be.RMSNorm(y, rstd, out, n, width, 1e-5)
		dqkv, dprobs := make([]float32, len(x)), make([]float32, len(probs))
		be.AttentionBackward(dqkv, dprobs, y, probs, x, batch, seq, heads, d)
		return append(y, dqkv...)
	}
	a, b := run(1), run(5)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("value %d differs: %v with 1 worker, %v with 5", i, a[i], b[i])
		}
	}
}

// TestFloat32MatchesFloat64 binds the float32 backend (Sgemm inside
// attention) to the float64 definitions.
func TestFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const batch, seq, heads, d = 2, 9, 3, 8
	n, width := batch*seq, heads*d
	q64 := randVec(rng, n*3*width)
	q32 := make([]float32, len(q64))
	for i, v := range q64 {
		q32[i] = float32(v)
	}
	o64, p64 := make([]float64, n*width), make([]float64, batch*heads*seq*seq)
	o32, p32 := make([]float32, n*width), make([]float32, len(p64))
	New64(2).Attention(o64, p64, q64, batch, seq, heads, d)
	New32(2).Attention(o32, p32, q32, batch, seq, heads, d)
	for i := range o64 {
		if math.Abs(float64(o32[i])-o64[i]) > 1e-5*(1+math.Abs(o64[i])) {
			t.Fatalf("attention out[%d] = %v, float64 %v", i, o32[i], o64[i])
		}
	}
}

// TestExpInPlace32 checks the vectorised exponential (and, with it
// switched off, the scalar fallback) against math.Exp, including the
// overflow, underflow and NaN lanes and a length that leaves a tail.
func TestExpInPlace32(t *testing.T) {
	var xs []float32
	for x := float32(-90); x < 90; x += 0.0137 {
		xs = append(xs, x)
	}
	xs = append(xs, 0, -0, 88.72283, -87.33654, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, 3)
	for _, vec := range []bool{true, false} {
		if vec && !useExpAVX512 {
			t.Log("no AVX-512: vector path not exercised")
			continue
		}
		saved := useExpAVX512
		useExpAVX512 = vec
		got := append([]float32(nil), xs...)
		expInPlace32(got)
		useExpAVX512 = saved
		worst := 0.0
		for i, x := range xs {
			want := math.Exp(float64(x))
			g := float64(got[i])
			switch {
			case x != x:
				if g == g {
					t.Errorf("vector %v: exp(NaN) = %v", vec, g)
				}
			case x > 88.72283:
				if !math.IsInf(g, 1) {
					t.Errorf("vector %v: exp(%v) = %v, want +Inf", vec, x, g)
				}
			case x < -87.33654:
				if g != 0 {
					t.Errorf("vector %v: exp(%v) = %v, want 0", vec, x, g)
				}
			default:
				rel := math.Abs(g-want) / want
				worst = max(worst, rel)
				if rel > 3e-7 {
					t.Errorf("vector %v: exp(%v) = %v, want %v (relative error %.2g)", vec, x, g, want, rel)
				}
			}
		}
		t.Logf("vector %v: worst relative error %.2g over %d values", vec, worst, len(xs))
	}
}

func BenchmarkExpInPlace32(b *testing.B) {
	x := make([]float32, 4096)
	for _, vec := range []bool{true, false} {
		if vec && !useExpAVX512 {
			continue
		}
		b.Run(map[bool]string{true: "avx512", false: "scalar"}[vec], func(b *testing.B) {
			saved := useExpAVX512
			useExpAVX512 = vec
			defer func() { useExpAVX512 = saved }()
			b.SetBytes(int64(4 * len(x)))
			for range b.N {
				for i := range x {
					x[i] = -float32(i%97) * 0.1
				}
				expInPlace32(x)
			}
		})
	}
}

// TestSwiGLU32MatchesFloat64 binds the float32 SwiGLU kernels (vectorised
// body and scalar tail, and the scalar fallback) to the float64 definition.
func TestSwiGLU32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const rows = 3
	for _, inter := range []int{16, 37, 5} {
		gu64, d64 := randVec(rng, rows*2*inter), randVec(rng, rows*inter)
		gu64[0], gu64[1] = 30, -95 // saturated lanes
		out64, dgu64 := make([]float64, rows*inter), make([]float64, rows*2*inter)
		be64 := New64(1)
		be64.SwiGLU(out64, gu64, rows, inter)
		be64.SwiGLUBackward(dgu64, d64, gu64, rows, inter)
		gu32, d32 := make([]float32, len(gu64)), make([]float32, len(d64))
		for i, v := range gu64 {
			gu32[i] = float32(v)
		}
		for i, v := range d64 {
			d32[i] = float32(v)
		}
		for _, vec := range []bool{true, false} {
			saved := useExpAVX512
			useExpAVX512 = vec && saved
			out32, dgu32 := make([]float32, len(out64)), make([]float32, len(dgu64))
			be32 := New32(2)
			be32.SwiGLU(out32, gu32, rows, inter)
			be32.SwiGLUBackward(dgu32, d32, gu32, rows, inter)
			useExpAVX512 = saved
			for i := range out64 {
				if math.Abs(float64(out32[i])-out64[i]) > 1e-5*(1+math.Abs(out64[i])) {
					t.Errorf("inter %d vector %v: out[%d] = %v, float64 %v", inter, vec, i, out32[i], out64[i])
				}
			}
			for i := range dgu64 {
				if math.Abs(float64(dgu32[i])-dgu64[i]) > 1e-5*(1+math.Abs(dgu64[i])) {
					t.Errorf("inter %d vector %v: dgateUp[%d] = %v, float64 %v", inter, vec, i, dgu32[i], dgu64[i])
				}
			}
		}
	}
}

// TestOperationsDoNotAllocate runs every row-parallel operation of the
// float32 backend (and the float64 matrix multiply) under AllocsPerRun.
func TestOperationsDoNotAllocate(t *testing.T) {
	be, be64 := New32(3), New64(3)
	defer be.Close()
	defer be64.Close()
	const batch, seq, heads, d = 2, 5, 2, 16
	n, w := batch*seq, heads*d
	f := func(k int) []float32 { return make([]float32, k) }
	qkv, out, probs, dprobs, dqkv := f(n*3*w), f(n*w), f(batch*heads*seq*seq), f(batch*heads*seq*seq), f(n*3*w)
	y, rstd, gu, act, v := f(n*w), f(n), f(n*2*w), f(n*w), f(n*w)
	logits, dlogits := f(n*4), f(n*4)
	labels, ids := make([]int32, n), make([]int32, n)
	loss, scale := make([]float64, n), make([]float64, n)
	cos, sin := kernels.RoPETables[float32](seq, d, 10000)
	table := f(max(4*w, w*w/2))
	adam := kernels.NewAdamATan2Scalars(1e-3, 0.9, 0.95, 0.1, 1)
	a64, c64 := make([]float64, 64*64), make([]float64, 64*64)
	allocs := testing.AllocsPerRun(5, func() {
		be.RoPE(qkv, n, 3*w, 2*heads, d, seq, cos, sin)
		be.Attention(out, probs, qkv, batch, seq, heads, d)
		be.AttentionBackward(dqkv, dprobs, out, probs, qkv, batch, seq, heads, d)
		be.RoPEBackward(dqkv, n, 3*w, 2*heads, d, seq, cos, sin)
		be.RMSNorm(y, rstd, out, n, w, 1e-5)
		be.RMSNormBackward(out, y, y, rstd, n, w)
		be.SwiGLU(act, gu, n, w)
		be.SwiGLUBackward(gu, act, gu, n, w)
		be.MLP(y, out, table[:2*w*w/4], table[:w*w/2], nil, nil, n, w/4, w/2)
		be.Add(y, y, out)
		be.Transpose(out, y, batch, seq, w)
		be.Gather(out, table, ids, w, 2)
		be.ScatterAdd(table, out, ids, w, 2)
		be.StablemaxCrossEntropy(loss, dlogits, logits, labels, scale, n, 4)
		be.SoftmaxCrossEntropy(loss, dlogits, logits, labels, scale, n, 4)
		be.AdamATan2(y, out, act, v, adam)
		be.Lerp(y, out, 0.9)
		be64.Gemm(false, true, 64, 64, 64, 1, a64, 64, a64, 64, 0, c64, 64)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run of all operations", allocs)
	}
}

// TestSoftmax32MatchesFloat64 binds the float32 softmax (vectorised with
// masked tails, and the scalar fallback) to the float64 definition.
func TestSoftmax32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 5, 16, 17, 97, 160} {
		x64 := randVec(rng, n)
		for i := range x64 {
			x64[i] *= 8
		}
		want := append([]float64(nil), x64...)
		kernels.SoftmaxRow(want)
		for _, vec := range []bool{true, false} {
			saved := useExpAVX512
			useExpAVX512 = vec && saved
			got := make([]float32, n)
			for i, v := range x64 {
				got[i] = float32(v)
			}
			softmax32(got)
			useExpAVX512 = saved
			var sum float64
			for i := range got {
				sum += float64(got[i])
				if math.Abs(float64(got[i])-want[i]) > 1e-6*(1e-3+want[i]) {
					t.Errorf("n %d vector %v: softmax[%d] = %v, float64 %v", n, vec, i, got[i], want[i])
				}
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Errorf("n %d vector %v: softmax sums to %v", n, vec, sum)
			}
		}
	}
}

// TestMLPMatchesUnfused: the row-blocked MLP gives, bit for bit, what Gemm,
// SwiGLU and Gemm give over all rows, in both backends, with the
// intermediates saved or kept in scratch, for row counts that fill several
// blocks, end in a partial one or are smaller than one tile.
func TestMLPMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// {30, 800, 1100}: the packed weights span several k and column blocks.
	for _, sh := range [][3]int{{6208, 32, 64}, {1000, 97, 40}, {13, 8, 16}, {1, 5, 3}, {30, 800, 1100}} {
		rows, dim, inter := sh[0], sh[1], sh[2]
		x, wgu, wd := randVec(rng, rows*dim), randVec(rng, 2*inter*dim), randVec(rng, dim*inter)
		t.Run("float64", func(t *testing.T) {
			checkMLP(t, New64(2), x, wgu, wd, rows, dim, inter)
		})
		t.Run("float32", func(t *testing.T) {
			checkMLP(t, New32(2), to32(x), to32(wgu), to32(wd), rows, dim, inter)
		})
	}
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func checkMLP[T kernels.Float](t *testing.T, be *Backend[T], x, wgu, wd []T, rows, dim, inter int) {
	defer be.Close()
	gu, act, want := make([]T, rows*2*inter), make([]T, rows*inter), make([]T, rows*dim)
	be.Gemm(false, true, rows, 2*inter, dim, 1, x, dim, wgu, dim, 0, gu, 2*inter)
	be.SwiGLU(act, gu, rows, inter)
	be.Gemm(false, true, rows, dim, inter, 1, act, inter, wd, inter, 0, want, dim)
	same := func(what string, got, want []T) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d×%d, inter %d: %s[%d] = %v, unfused %v", rows, dim, inter, what, i, got[i], want[i])
			}
		}
	}
	out := make([]T, rows*dim)
	be.MLP(out, x, wgu, wd, nil, nil, rows, dim, inter)
	same("out (scratch)", out, want)
	gu2, act2 := make([]T, len(gu)), make([]T, len(act))
	clear(out)
	be.MLP(out, x, wgu, wd, gu2, act2, rows, dim, inter)
	same("out (saved)", out, want)
	same("gateUp", gu2, gu)
	same("act", act2, act)
}

// BenchmarkMLP times the MLP of the small Sudoku model (channel: 64×97
// rows of 128, inter 512; mlp_t's token mixing: 64×128 rows of 97) as
// Gemm, SwiGLU, Gemm over all rows (the baseline) and row-blocked with the
// intermediates in scratch.
func BenchmarkMLP(b *testing.B) {
	for _, sh := range []struct {
		name             string
		rows, dim, inter int
	}{{"channel_6208x128x512", 6208, 128, 512}, {"token_8192x97x512", 8192, 97, 512}} {
		rng := rand.New(rand.NewPCG(1, 1))
		x, wgu, wd := to32(randVec(rng, sh.rows*sh.dim)), to32(randVec(rng, 2*sh.inter*sh.dim)), to32(randVec(rng, sh.dim*sh.inter))
		gu, act, out := make([]float32, sh.rows*2*sh.inter), make([]float32, sh.rows*sh.inter), make([]float32, sh.rows*sh.dim)
		be := New32(0)
		b.Run(sh.name+"/unfused", func(b *testing.B) {
			for b.Loop() {
				be.Gemm(false, true, sh.rows, 2*sh.inter, sh.dim, 1, x, sh.dim, wgu, sh.dim, 0, gu, 2*sh.inter)
				be.SwiGLU(act, gu, sh.rows, sh.inter)
				be.Gemm(false, true, sh.rows, sh.dim, sh.inter, 1, act, sh.inter, wd, sh.inter, 0, out, sh.dim)
			}
		})
		b.Run(sh.name+"/blocked", func(b *testing.B) {
			for b.Loop() {
				be.MLP(out, x, wgu, wd, nil, nil, sh.rows, sh.dim, sh.inter)
			}
		})
		be.Close()
	}
}

// TestAddRMSNormMatchesUnfused: the fused residual norm gives bit for bit
// what Add then RMSNorm give, in both backends, also when out is one of
// its inputs.
func TestAddRMSNormMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, sh := range [][2]int{{6208, 128}, {97, 7}, {1, 1}} {
		rows, dim := sh[0], sh[1]
		a, b := randVec(rng, rows*dim), randVec(rng, rows*dim)
		checkAddRMSNorm(t, New64(2), a, b, rows, dim)
		checkAddRMSNorm(t, New32(2), to32(a), to32(b), rows, dim)
	}
}

func checkAddRMSNorm[T kernels.Float](t *testing.T, be *Backend[T], a, b []T, rows, dim int) {
	t.Helper()
	defer be.Close()
	sum, want, wantRstd := make([]T, len(a)), make([]T, len(a)), make([]T, rows)
	be.Add(sum, a, b)
	be.RMSNorm(want, wantRstd, sum, rows, dim, 1e-5)
	out, rstd := make([]T, len(a)), make([]T, rows)
	be.AddRMSNorm(out, rstd, a, b, rows, dim, 1e-5)
	alias := slices.Clone(b)
	aliasRstd := make([]T, rows)
	be.AddRMSNorm(alias, aliasRstd, a, alias, rows, dim, 1e-5)
	for name, got := range map[string][]T{"out": out, "out aliasing b": alias} {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s %d×%d: %s[%d] = %v, unfused %v", be.Name(), rows, dim, name, i, got[i], want[i])
			}
		}
	}
	if !slices.Equal(rstd, wantRstd) || !slices.Equal(aliasRstd, wantRstd) {
		t.Fatalf("%s %d×%d: rstd differs from the unfused one", be.Name(), rows, dim)
	}
}

// BenchmarkAddRMSNorm: the post-norm residual of the channel MLP (6208
// token rows of 128) and of mlp_t's token mixing (8192 rows of 97), as Add
// then RMSNorm and fused.
func BenchmarkAddRMSNorm(b *testing.B) {
	for _, sh := range []struct {
		name      string
		rows, dim int
	}{{"channel_6208x128", 6208, 128}, {"token_8192x97", 8192, 97}} {
		rng := rand.New(rand.NewPCG(1, 1))
		x, y := to32(randVec(rng, sh.rows*sh.dim)), to32(randVec(rng, sh.rows*sh.dim))
		tmp, out, rstd := make([]float32, len(x)), make([]float32, len(x)), make([]float32, sh.rows)
		be := New32(0)
		b.Run(sh.name+"/unfused", func(b *testing.B) {
			for b.Loop() {
				be.Add(tmp, x, y)
				be.RMSNorm(out, rstd, tmp, sh.rows, sh.dim, 1e-5)
			}
		})
		b.Run(sh.name+"/fused", func(b *testing.B) {
			for b.Loop() {
				be.AddRMSNorm(out, rstd, x, y, sh.rows, sh.dim, 1e-5)
			}
		})
		be.Close()
	}
}
