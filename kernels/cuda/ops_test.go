package cuda

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestBF16Rounding(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even below: stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd below: rounds up to even
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie: up
		{math.Float32frombits(0x3f807fff), 0x3f80}, // below the tie: down
		{float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float rounds to +Inf
	}
	for _, c := range cases {
		if got := F32ToBF16(c.in); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(c.in), got, c.want)
		}
	}
	if n := F32ToBF16(float32(math.NaN())); !math.IsNaN(float64(BF16ToF32(n))) {
		t.Errorf("NaN became %#04x", n)
	}
	// Every bf16 value widens and narrows back to itself.
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToBF16(f); got != uint16(h) {
			t.Fatalf("round trip of %#04x gave %#04x", h, got)
		}
	}
}

func TestGroupByID(t *testing.T) {
	ids := []int32{5, 2, 5, 0, 2, 5}
	order, offsets, uids := GroupByID(ids)
	if want := []int32{3, 1, 4, 0, 2, 5}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if want := []int32{0, 1, 3, 6}; !slices.Equal(offsets, want) {
		t.Errorf("offsets %v, want %v", offsets, want)
	}
	if want := []int32{0, 2, 5}; !slices.Equal(uids, want) {
		t.Errorf("uids %v, want %v", uids, want)
	}
	order, offsets, uids = GroupByID(nil)
	if len(order) != 0 || !slices.Equal(offsets, []int32{0}) || len(uids) != 0 {
		t.Errorf("empty input: %v %v %v", order, offsets, uids)
	}
}

// TestAdamFirstStep checks the property spec/reference-model.md 8.1 states:
// from zero moments the first update is lr*atan2(g, |g|) = ±lr*π/4 for
// nonzero g and 0 for g = 0, after the weight decay.
func TestAdamFirstStep(t *testing.T) {
	a := NewAdamScalars(1e-4, 0.9, 0.95, 0.1, 1)
	p := []float32{0.5, -0.25, 0.125}
	g := []float32{3e-3, -7, 0}
	m, v := make([]float32, 3), make([]float32, 3)
	old := slices.Clone(p)
	refAdamATan2(p, g, m, v, a)
	for i := range p {
		decayed := float64(old[i]) * (1 - 1e-4*0.1)
		step := 0.0
		if g[i] != 0 {
			step = math.Copysign(1e-4*math.Pi/4, float64(g[i]))
		}
		if want := decayed - step; math.Abs(float64(p[i])-want) > 1e-7 {
			t.Errorf("p[%d] = %v, want %v", i, p[i], want)
		}
	}
}

func TestPackArg(t *testing.T) {
	cases := []struct {
		in   any
		want uint64
	}{
		{DevPtr(0x7f0012345678), 0x7f0012345678},
		{int32(-1), 0xffffffff},
		{int64(-2), 0xfffffffffffffffe},
		{float32(1), 0x3f800000},
	}
	for _, c := range cases {
		got, err := packArg(c.in)
		if err != nil || got != c.want {
			t.Errorf("packArg(%v) = %#x, %v; want %#x", c.in, got, err, c.want)
		}
	}
	if _, err := packArg(3); err == nil {
		t.Error("packArg accepted a Go int, whose C width is ambiguous")
	}
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1<<20 - 1, 1 << 20}, {1 << 20, 2 << 20}, {5 << 20, 6 << 20},
	} {
		if got := sizeClass(c.in); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestCompareTolerance checks the comparison the GPU check relies on.
func TestCompareTolerance(t *testing.T) {
	want := []float32{1, -2, 0}
	if r := compare([]float32{1, -2, 0}, want, 0, 0); !r.OK() {
		t.Errorf("equal slices rejected: %+v", r)
	}
	r := compare([]float32{1.01, -2, 1e-9}, want, 1e-8, 1e-3)
	if r.Bad != 1 || math.Abs(r.MaxAbs-0.01) > 1e-6 {
		t.Errorf("one value 1%% off: %+v", r)
	}
	if r := compare([]float32{float32(math.NaN())}, []float32{1}, 1, 1); r.OK() {
		t.Error("NaN accepted")
	}
}

// TestGemmMathModes: each math mode reaches cuBLAS as its compute type, and
// modes that round fp32 inputs are refused for bf16 inputs, as is a mode
// that does not exist.
func TestGemmMathModes(t *testing.T) {
	for _, tc := range []struct {
		ab      DType
		math    Math
		compute uintptr
		err     string
	}{
		{F32, MathFP32, cublasCompute32F, ""},
		{F32, MathTF32, cublasCompute32FFastTF32, ""},
		{F32, MathBF16, cublasCompute32FFastBF16, ""},
		{BF16, MathFP32, cublasCompute32F, ""},
		{BF16, MathTF32, 0, "tf32 math is for fp32 inputs, not bf16"},
		{BF16, MathBF16, 0, "bf16 math is for fp32 inputs, not bf16"},
		{F32, Math(7), 0, "unknown math mode Math(7)"},
	} {
		g := GemmArgs{AB: tc.ab, CType: F32, Math: tc.math}
		_, _, err := g.dtypes()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v inputs, %v math: error %v, want %q", tc.ab, tc.math, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v inputs, %v math: %v", tc.ab, tc.math, err)
		}
		if got := g.computeType(); got != tc.compute {
			t.Errorf("%v inputs, %v math: compute type %d, want %d", tc.ab, tc.math, got, tc.compute)
		}
	}
}
