package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/tinyrecursion/trm/kernels"
)

// naiveSgemm is the test oracle: kernels.GemmRef, the definition of Gemm
// as a triple loop with a float64 accumulator.
var naiveSgemm = kernels.GemmRef[float32]

type sgemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra elements per row beyond the minimal stride
}

// operands allocates A, B and C for tc with the strides the case asks for,
// filled with random values; C is seeded with NaN when beta is 0 to prove it
// is never read.
func (tc sgemmCase) operands(rng *rand.Rand) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc = ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a = randSlice(rng, ar*lda)
	b = randSlice(rng, br*ldb)
	c = randSlice(rng, tc.m*ldc)
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	return
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// checkSgemm runs fn and the oracle on the same operands and compares C.
func checkSgemm(t *testing.T, fn sgemmFunc, tc sgemmCase, rng *rand.Rand) {
	t.Helper()
	a, lda, b, ldb, c, ldc := tc.operands(rng)
	want := append([]float32(nil), c...)
	naiveSgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	fn(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	compareC(t, "", tc, c, want, ldc)
}

// compareC compares every element of C with the oracle's, including the
// padding between rows, which must be untouched.
func compareC(t *testing.T, name string, tc sgemmCase, c, want []float32, ldc int) {
	t.Helper()
	// Products of k values in [-1,1] accumulate rounding error growing with k.
	tol := 1e-5 * float64(tc.k+4)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got, exp := c[i*ldc+j], want[i*ldc+j]
			if j >= tc.n {
				if math.Float32bits(got) != math.Float32bits(exp) {
					t.Fatalf("%s %+v: padding C[%d][%d] changed from %v to %v", name, tc, i, j, exp, got)
				}
				continue
			}
			if math.IsNaN(float64(got)) || math.Abs(float64(got-exp)) > tol*(1+math.Abs(float64(exp))) {
				t.Fatalf("%s %+v: C[%d][%d] = %v, want %v", name, tc, i, j, got, exp)
			}
		}
	}
}

func sgemmCases() []sgemmCase {
	sizes := [][3]int{
		{1, 1, 1}, {1, 7, 3}, {7, 1, 5}, {7, 7, 7}, {2, 3, 1}, {16, 16, 16},
		{33, 17, 65}, {5, 33, 257}, {257, 33, 9}, {64, 64, 64}, {31, 97, 130},
		{100, 1, 300}, {1, 300, 100}, {130, 70, 513},
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {0, 0.25}, {0, 0}}
	var cases []sgemmCase
	i := 0
	for _, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				sc := scalars[i%len(scalars)]
				cases = append(cases, sgemmCase{ta, tb, s[0], s[1], s[2], sc[0], sc[1], i % 3 * 5})
				i++
			}
		}
	}
	return cases
}

type sgemmFunc = func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)

// kernelFunc runs the blocked Sgemm with one specific micro-kernel, so every
// kernel this CPU supports is tested, not only the one Sgemm picks.
func kernelFunc(kern *sgemmKernel) sgemmFunc {
	return func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemmWith(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

func TestSgemmMatchesNaive(t *testing.T) {
	for _, kern := range sgemmKernels() {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for _, tc := range sgemmCases() {
				checkSgemm(t, kernelFunc(kern), tc, rng)
			}
		})
	}
}

func TestSgemmKernelsAvailable(t *testing.T) {
	ks := sgemmKernels()
	if ks[len(ks)-1] != kernelGeneric {
		t.Fatalf("generic kernel missing from %v", ks)
	}
	if sgemmBest != ks[0] {
		t.Fatalf("Sgemm uses %s, want the first available kernel %s", sgemmBest.name, ks[0].name)
	}
	for _, k := range ks {
		if sgemmMC%k.mr != 0 || sgemmNC%k.nr != 0 || k.mr*k.nr > sgemmMaxTile {
			t.Errorf("kernel %s (%d×%d) does not fit the blocking %d/%d/%d", k.name, k.mr, k.nr, sgemmMC, sgemmNC, sgemmMaxTile)
		}
	}
	t.Logf("kernels: %d, Sgemm uses %s", len(ks), sgemmBest.name)
}

// TestSgemmBlocked covers shapes larger than each block size (mc, kc, nc),
// which the small cases never reach, one dimension at a time to keep the
// oracle cheap.
func TestSgemmBlocked(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{
		{sgemmMC + 13, 37, 41},         // several row blocks
		{21, sgemmNC + 37, 19},         // several column blocks
		{19, 45, 2*sgemmKC + 9},        // several k blocks, unequal
		{sgemmMC + 1, 70, sgemmKC + 1}, // row and k blocks together
	}
	for _, sh := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				tc := sgemmCase{ta, tb, sh[0], sh[1], sh[2], 0.75, 0.5, 3}
				a, lda, b, ldb, c0, ldc := tc.operands(rng)
				want := append([]float32(nil), c0...)
				naiveSgemm(ta, tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
				for _, kern := range sgemmKernels() {
					c := append([]float32(nil), c0...)
					sgemmWith(kern, ta, tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
					compareC(t, kern.name, tc, c, want, ldc)
				}
			}
		}
	}
}

// TestSgemmExactIntegers uses small integers whose products and sums are exact
// in float32, so every kernel must reproduce the oracle bit for bit: any
// misplaced index, skipped k step or wrong tile changes some element.
func TestSgemmExactIntegers(t *testing.T) {
	for _, kern := range sgemmKernels() {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				tc := sgemmCase{ta, tb, 2*kern.mr + 3, 2*kern.nr + 5, 37, 2, 0, 1}
				a, lda, b, ldb, c, ldc := tc.operands(rand.New(rand.NewPCG(0, 0)))
				for i := range a {
					a[i] = float32(i*7%11 - 5)
				}
				for i := range b {
					b[i] = float32(i*5%13 - 6)
				}
				want := append([]float32(nil), c...)
				naiveSgemm(ta, tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
				sgemmWith(kern, ta, tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v: C[%d] = %v, want %v exactly", kern.name, tc, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestSgemmSameForAnyGoroutineCount checks that the split between goroutines
// does not change a single bit of the result.
func TestSgemmSameForAnyGoroutineCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []sgemmCase{
		{false, true, 301, 67, 300, 1, 0, 0},  // split over rows
		{true, false, 13, 1000, 400, 1, 1, 2}, // split over columns
	} {
		a, lda, b, ldb, c0, ldc := tc.operands(rng)
		var ref []float32
		for _, procs := range []int{1, 2, 3} {
			prev := runtime.GOMAXPROCS(procs)
			c := append([]float32(nil), c0...)
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
			runtime.GOMAXPROCS(prev)
			if ref == nil {
				ref = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("%+v: GOMAXPROCS=%d gives C[%d] = %v, GOMAXPROCS=1 gives %v", tc, procs, i, c[i], ref[i])
				}
			}
		}
	}
}

// TestSgemmInPlaceAMatchesPacked checks that reading a row-major A in place
// gives the same bits as packing it, so results never depend on which path a
// tile takes.
func TestSgemmInPlaceAMatchesPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range sgemmKernels() {
		if kern.tileRows == nil {
			continue
		}
		packed := *kern
		packed.tileRows = nil
		tc := sgemmCase{false, true, 2*sgemmMC + 5, 3*kern.nr + 7, sgemmKC + 3, 1.25, -0.5, 1}
		a, lda, b, ldb, c0, ldc := tc.operands(rng)
		got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
		sgemmWith(kern, false, true, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		sgemmWith(&packed, false, true, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: in-place C[%d] = %v, packed %v", kern.name, i, got[i], want[i])
			}
		}
	}
}

// TestSgemmConcurrentCallers runs several large products at once, as a
// backend's goroutines may: they share the worker pool and the scratch list,
// and each must still get exactly its single-caller result.
func TestSgemmConcurrentCallers(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	tc := sgemmCase{false, true, 150, 90, 200, 1, 0, 0}
	a, lda, b, ldb, c0, ldc := tc.operands(rng)
	want := append([]float32(nil), c0...)
	Sgemm(false, true, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, want, ldc)
	results := make([][]float32, 4)
	var wg sync.WaitGroup
	for i := range results {
		results[i] = append([]float32(nil), c0...)
		wg.Go(func() {
			for range 3 {
				Sgemm(false, true, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, results[i], ldc)
			}
		})
	}
	wg.Wait()
	for i, got := range results {
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("caller %d: C[%d] = %v, want %v", i, j, got[j], want[j])
			}
		}
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	tc := sgemmCase{false, true, 200, 160, 300, 1, 0, 0}
	a, lda, b, ldb, c, ldc := tc.operands(rng)
	run := func() { Sgemm(false, true, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, ldc) }
	run() // start the workers and keep a scratch
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("Sgemm allocates %v times per call in steady state", n)
	}
	// A garbage collection between steps must not cost the scratch either.
	gcRun := func() { runtime.GC(); run() }
	if n := testing.AllocsPerRun(3, gcRun); n != 0 {
		t.Errorf("Sgemm allocates %v times per call after a GC", n)
	}
}

func TestSgemmRejectsShortOperands(t *testing.T) {
	a := make([]float32, 6)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short c", func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, a, 3, 0, a[:5], 3) }},
		{"small lda", func() { Sgemm(false, false, 2, 3, 2, 1, a, 1, a, 3, 0, a, 3) }},
		{"short b", func() { Sgemm(false, true, 2, 3, 2, 1, a, 2, a[:5], 2, 0, a, 3) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		}()
	}
}

// TestSgemmDetectsIndexErrors proves the comparison is sharp: an oracle with
// any one operand index shifted must disagree with Sgemm.
func TestSgemmDetectsIndexErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tc := sgemmCase{false, false, 9, 11, 13, 1, 0, 2}
	a, lda, b, ldb, c, ldc := tc.operands(rng)
	Sgemm(false, false, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, ldc)
	// Each variant reads a neighbouring element in one place.
	variants := map[string]func(i, j, p int) float64{
		"A row":    func(i, j, p int) float64 { return float64(a[(i+1)%tc.m*lda+p]) * float64(b[p*ldb+j]) },
		"A col":    func(i, j, p int) float64 { return float64(a[i*lda+(p+1)%tc.k]) * float64(b[p*ldb+j]) },
		"B row":    func(i, j, p int) float64 { return float64(a[i*lda+p]) * float64(b[(p+1)%tc.k*ldb+j]) },
		"B col":    func(i, j, p int) float64 { return float64(a[i*lda+p]) * float64(b[p*ldb+(j+1)%tc.n]) },
		"identity": func(i, j, p int) float64 { return float64(a[i*lda+p]) * float64(b[p*ldb+j]) },
	}
	for name, f := range variants {
		maxDiff := 0.0
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				var s float64
				for p := 0; p < tc.k; p++ {
					s += f(i, j, p)
				}
				maxDiff = max(maxDiff, math.Abs(s-float64(c[i*ldc+j])))
			}
		}
		if name == "identity" {
			if maxDiff > 1e-4 {
				t.Errorf("correct oracle differs by %g", maxDiff)
			}
		} else if maxDiff < 1e-2 {
			t.Errorf("oracle with shifted %s index still matches (max diff %g)", name, maxDiff)
		}
	}
}
