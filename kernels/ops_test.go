package kernels

import (
	"math"
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
