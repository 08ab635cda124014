package cuda

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The GPU check trusts the reference loops in ref.go; these tests bind
// each backward reference to its forward by central finite differences,
// so that a wrong formula fails here, on any machine.

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

func dot64(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// gradCheck compares analytic d/dx of L(x) = <w, f(x)> (grad) with central
// differences at a sample of coordinates.
func gradCheck(t *testing.T, name string, x []float32, f func([]float32) float64, grad []float32) {
	t.Helper()
	const h = 1e-2
	worst := 0.0
	for j := 0; j < len(x); j += max(1, len(x)/40) {
		orig := x[j]
		x[j] = orig + h
		lp := f(x)
		x[j] = orig - h
		lm := f(x)
		x[j] = orig
		num := (lp - lm) / (2 * h)
		err := math.Abs(num-float64(grad[j])) / math.Max(1, math.Abs(num))
		worst = math.Max(worst, err)
		if err > 2e-3 {
			t.Errorf("%s: d/dx[%d] analytic %.6g, numeric %.6g", name, j, grad[j], num)
			return
		}
	}
	t.Logf("%s: worst relative gradient error %.2g", name, worst)
}

func TestRefSwiGLUBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const rows, I = 3, 8
	gu, w := randVec(r, rows*2*I, 1.5), randVec(r, rows*I, 1)
	f := func(x []float32) float64 { return dot64(w, refSwiGLU(x, rows, I)) }
	gradCheck(t, "swiglu", gu, f, refSwiGLUBackward(w, gu, rows, I))
}

func TestRefRMSNormBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const rows, D = 3, 16
	x, w := randVec(r, rows*D, 2), randVec(r, rows*D, 1)
	f := func(x []float32) float64 { y, _ := refRMSNorm(x, rows, D, 1e-5); return dot64(w, y) }
	y, rstd := refRMSNorm(x, rows, D, 1e-5)
	gradCheck(t, "rmsnorm", x, f, refRMSNormBackward(w, y, rstd, rows, D))
}

func TestRefRoPEBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const L, heads, d, rows = 5, 2, 8, 10
	stride := 3 * heads * d
	cos, sin := refRoPETables(L, d, 10000)
	x, w := randVec(r, rows*stride, 1), randVec(r, rows*stride, 1)
	f := func(x []float32) float64 { return dot64(w, refRoPE(x, cos, sin, rows, L, 2*heads, stride, d, 1)) }
	gradCheck(t, "rope", x, f, refRoPE(w, cos, sin, rows, L, 2*heads, stride, d, -1))
	// The rotation keeps norms and leaves the value heads alone.
	y := refRoPE(x, cos, sin, rows, L, 2*heads, stride, d, 1)
	if math.Abs(dot64(y, y)-dot64(x, x)) > 1e-3*dot64(x, x) {
		t.Errorf("norm changed: %v -> %v", dot64(x, x), dot64(y, y))
	}
	for i := 2 * heads * d; i < stride; i++ {
		if y[i] != x[i] {
			t.Fatalf("value element %d changed", i)
		}
	}
}

func TestRefRoPETables(t *testing.T) {
	cos, sin := refRoPETables(3, 4, 10000)
	// Position 2, pair 1: angle 2 / 10000^(2/4) = 0.02.
	if math.Abs(float64(cos[2*4+1])-math.Cos(0.02)) > 1e-7 || math.Abs(float64(sin[2*4+3])-math.Sin(0.02)) > 1e-7 {
		t.Errorf("cos/sin tables wrong: %v %v", cos, sin)
	}
}

func TestRefSoftmaxBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, C = 3, 9
	x, w := randVec(r, rows*C, 2), randVec(r, rows*C, 1)
	f := func(x []float32) float64 { return dot64(w, refSoftmax(x, rows, C, 0.125)) }
	gradCheck(t, "softmax", x, f, refSoftmaxBackward(w, refSoftmax(x, rows, C, 0.125), rows, C, 0.125))
}

func TestRefCrossEntropyGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const rows, V = 6, 12
	logits := randVec(r, rows*V, 3)
	labels := []int32{0, 11, -100, 5, 3, 7}
	scale := []float64{1, 0.5, 1, 0.25, 2, 1}
	for _, kind := range []LossKind{Stablemax, SoftmaxCE} {
		f := func(x []float32) float64 {
			loss, _ := refCrossEntropy(kind, x, labels, nil, rows, V, -100)
			s := 0.0
			for i, l := range loss {
				s += scale[i] * l
			}
			return s
		}
		loss, grad := refCrossEntropy(kind, logits, labels, scale, rows, V, -100)
		if loss[2] != 0 {
			t.Errorf("ignored row has loss %v", loss[2])
		}
		gradCheck(t, [...]string{"stablemax", "softmax"}[kind], logits, f, grad)
	}
	// Stablemax by its definition for one row: s(2)=3, s(-1)=1/2, s(0)=1.
	loss, _ := refCrossEntropy(Stablemax, []float32{2, -1, 0}, []int32{1}, nil, 1, 3, -100)
	if want := -math.Log(0.5 / 4.5); math.Abs(loss[0]-want) > 1e-12 {
		t.Errorf("stablemax loss %v, want %v", loss[0], want)
	}
}

func TestRefEmbeddingRoundTrip(t *testing.T) {
	table := []float32{1, 2, 3, 4, 5, 6} // V = 3, D = 2
	out := refEmbedding(table, []int32{2, 0, 3}, 2, 3, 2)
	if out[0] != 10 || out[1] != 12 || out[2] != 2 || out[3] != 4 || !math.IsNaN(float64(out[4])) {
		t.Errorf("gather: %v", out)
	}
	d := make([]float32, 6)
	refEmbeddingBackward(d, []float32{1, 1, 2, 2, 3, 3}, []int32{2, 0, 2}, 2, 0.5)
	if want := []float32{1, 1, 0, 0, 2, 2}; !equalF32(d, want) {
		t.Errorf("scatter-add: %v, want %v", d, want)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRefGemm(t *testing.T) {
	// [1 2; 3 4] x [5 6; 7 8]^T = [17 23; 39 53]
	a := []float32{1, 2, 3, 4}
	b := []float32{5, 6, 7, 8}
	c := make([]float32, 4)
	refGemm(GemmArgs{TransB: true, M: 2, N: 2, K: 2, Alpha: 1, Lda: 2, Ldb: 2, Ldc: 2}, a, b, c, 0, 2)
	if want := []float32{17, 23, 39, 53}; !equalF32(c, want) {
		t.Errorf("NT: %v, want %v", c, want)
	}
	// A^T B with A stored 2x2: [1 3; 2 4] x [5 6; 7 8] = [26 30; 38 44], plus beta*C.
	refGemm(GemmArgs{TransA: true, M: 2, N: 2, K: 2, Alpha: 1, Beta: 1, Lda: 2, Ldb: 2, Ldc: 2}, a, b, c, 0, 2)
	if want := []float32{17 + 26, 23 + 30, 39 + 38, 53 + 44}; !equalF32(c, want) {
		t.Errorf("TN with beta: %v, want %v", c, want)
	}
}
