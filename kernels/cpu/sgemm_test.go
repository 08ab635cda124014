package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveSgemm is the test oracle: the definition of Sgemm as a triple loop,
// accumulated in float64 so the reference is more accurate than any kernel.
func naiveSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := float64(alpha) * s
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(r)
		}
	}
}

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

// checkSgemm runs fn and the oracle on the same operands and compares every
// element of C, including the padding between rows, which must be untouched.
func checkSgemm(t *testing.T, fn func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int), tc sgemmCase, rng *rand.Rand) {
	t.Helper()
	a, lda, b, ldb, c, ldc := tc.operands(rng)
	want := append([]float32(nil), c...)
	naiveSgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	fn(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	// Products of k values in [-1,1] accumulate rounding error growing with k.
	tol := 1e-5 * float64(tc.k+4)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got, exp := c[i*ldc+j], want[i*ldc+j]
			if j >= tc.n {
				if math.Float32bits(got) != math.Float32bits(exp) {
					t.Fatalf("%+v: padding C[%d][%d] changed from %v to %v", tc, i, j, exp, got)
				}
				continue
			}
			if math.IsNaN(float64(got)) || math.Abs(float64(got-exp)) > tol*(1+math.Abs(float64(exp))) {
				t.Fatalf("%+v: C[%d][%d] = %v, want %v", tc, i, j, got, exp)
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

func TestSgemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range sgemmCases() {
		checkSgemm(t, Sgemm, tc, rng)
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
