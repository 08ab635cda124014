package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestExpf32 bounds the float32 exponential's error against math.Exp over
// the range softmax and sigmoid use, and checks the edges.
func TestExpf32(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x < 88.7; x += 0.00731 {
		got, want := float64(expf32(x)), math.Exp(float64(x))
		rel := math.Abs(got-want) / want
		worst = max(worst, rel)
		if rel > 3e-7 {
			t.Fatalf("expf32(%v) = %v, want %v (relative error %.2g)", x, got, want, rel)
		}
	}
	t.Logf("worst relative error %.2g (float32 epsilon %.2g)", worst, math.Pow(2, -23))
	if v := expf32(100); !math.IsInf(float64(v), 1) {
		t.Errorf("expf32(100) = %v", v)
	}
	if v := expf32(-100); v != 0 {
		t.Errorf("expf32(-100) = %v", v)
	}
	if v := expf32(0); v != 1 {
		t.Errorf("expf32(0) = %v", v)
	}
	if v := expf32(float32(math.NaN())); v == v {
		t.Errorf("expf32(NaN) = %v", v)
	}
}

// TestRMSNormRowGroups: the four-rows-at-a-time paths of the RMS norm and
// its backward give bit for bit what one row at a time gives (the single-
// row tail path), the fused residual norm what AddRange then RMSNormRows
// give.
func TestRMSNormRowGroups(t *testing.T) {
	const rows, dim = 11, 37 // two groups of four and a tail of three
	rng := rand.New(rand.NewPCG(5, 5))
	vec := func() []float32 {
		v := make([]float32, rows*dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 3)
		}
		return v
	}
	x, y, dy := vec(), vec(), vec()
	out, rstd := make([]float32, rows*dim), make([]float32, rows)
	RMSNormRows(out, rstd, x, dim, 1e-5, 0, rows)
	oneOut, oneRstd := make([]float32, rows*dim), make([]float32, rows)
	for r := range rows {
		RMSNormRows(oneOut, oneRstd, x, dim, 1e-5, r, r+1)
	}
	if !slices.Equal(out, oneOut) || !slices.Equal(rstd, oneRstd) {
		t.Error("RMSNormRows over row groups differs from row by row")
	}

	din, oneDin := make([]float32, rows*dim), make([]float32, rows*dim)
	RMSNormBackwardRows(din, dy, out, rstd, dim, 0, rows)
	for r := range rows {
		RMSNormBackwardRows(oneDin, dy, out, rstd, dim, r, r+1)
	}
	if !slices.Equal(din, oneDin) {
		t.Error("RMSNormBackwardRows over row groups differs from row by row")
	}

	sum := make([]float32, rows*dim)
	AddRange(sum, x, y, 0, rows*dim)
	RMSNormRows(oneOut, oneRstd, sum, dim, 1e-5, 0, rows)
	AddRMSNormRows(out, rstd, x, y, dim, 1e-5, 0, rows)
	if !slices.Equal(out, oneOut) || !slices.Equal(rstd, oneRstd) {
		t.Error("AddRMSNormRows differs from AddRange then RMSNormRows")
	}
}
