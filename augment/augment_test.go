package augment

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDihedralTable checks every transform of a 2x3 grid against the
// results numpy gives for the reference's definitions (rot90, fliplr,
// flipud, .T, fliplr(rot90)).
func TestDihedralTable(t *testing.T) {
	a := []byte{1, 2, 3, 4, 5, 6} // [[1,2,3],[4,5,6]]
	want := [NumDihedral]struct {
		h, w int
		g    []byte
	}{
		{2, 3, []byte{1, 2, 3, 4, 5, 6}},
		{3, 2, []byte{3, 6, 2, 5, 1, 4}}, // rot90
		{2, 3, []byte{6, 5, 4, 3, 2, 1}},
		{3, 2, []byte{4, 1, 5, 2, 6, 3}}, // rot90 k=3
		{2, 3, []byte{3, 2, 1, 6, 5, 4}},
		{2, 3, []byte{4, 5, 6, 1, 2, 3}},
		{3, 2, []byte{1, 4, 2, 5, 3, 6}},
		{3, 2, []byte{6, 3, 5, 2, 4, 1}}, // fliplr(rot90)
	}
	for tid, w := range want {
		out := make([]byte, 6)
		h, wd := Dihedral(out, a, 2, 3, tid)
		if h != w.h || wd != w.w || !slices.Equal(out, w.g) {
			t.Errorf("t%d: got %dx%d %v, want %dx%d %v", tid, h, wd, out, w.h, w.w, w.g)
		}
		m := DihedralMap(2, 3, tid)
		for k, from := range m {
			if a[from] != w.g[k] {
				t.Errorf("t%d: DihedralMap disagrees with Dihedral at %d", tid, k)
			}
		}
	}
}

func randomGrid(rng *rand.Rand) ([]byte, int, int) {
	h, w := 1+rng.IntN(9), 1+rng.IntN(9)
	g := make([]byte, h*w)
	for i := range g {
		g[i] = byte(rng.IntN(256))
	}
	return g, h, w
}

func TestDihedralInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		g, h, w := randomGrid(rng)
		for tid := range NumDihedral {
			fwd := make([]byte, len(g))
			back := make([]byte, len(g))
			th, tw := Dihedral(fwd, g, h, w, tid)
			bh, bw := Dihedral(back, fwd, th, tw, DihedralInverse[tid])
			if bh != h || bw != w || !slices.Equal(back, g) {
				t.Fatalf("t%d on %dx%d: inverse does not restore the grid", tid, h, w)
			}
		}
	}
}

func TestDihedralComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		g, h, w := randomGrid(rng)
		for a := range NumDihedral {
			for b := range NumDihedral {
				c := ComposeDihedral(a, b)
				if c < 0 || c >= NumDihedral {
					t.Fatalf("compose(%d,%d) = %d outside the group", a, b, c)
				}
				tmp, two, one := make([]byte, len(g)), make([]byte, len(g)), make([]byte, len(g))
				ah, aw := Dihedral(tmp, g, h, w, a)
				h2, w2 := Dihedral(two, tmp, ah, aw, b)
				h1, w1 := Dihedral(one, g, h, w, c)
				if h1 != h2 || w1 != w2 || !slices.Equal(one, two) {
					t.Fatalf("t%d then t%d differs from t%d on %dx%d", a, b, c, h, w)
				}
			}
			if ComposeDihedral(a, DihedralInverse[a]) != Identity {
				t.Fatalf("t%d composed with its inverse is not the identity", a)
			}
		}
	}
}

// solvedSudoku is a valid solution used as the seed of property tests.
const solvedSudoku = "123456789456789123789123456234567891567891234891234567345678912678912345912345678"

func digits(s string) []byte {
	g := make([]byte, len(s))
	for i := range s {
		if s[i] != '.' {
			g[i] = s[i] - '0'
		}
	}
	return g
}

func randomShuffle(rng *rand.Rand) *SudokuShuffle {
	var d [9]byte
	for i, v := range rng.Perm(9) {
		d[i] = byte(v + 1)
	}
	perm3 := func() (p [3]int) { copy(p[:], rng.Perm(3)); return }
	s, err := NewSudokuShuffle(d, rng.IntN(2) == 1, perm3(), [3][3]int{perm3(), perm3(), perm3()}, perm3(), [3][3]int{perm3(), perm3(), perm3()})
	if err != nil {
		panic(err)
	}
	return s
}

func TestSudokuShuffleKeepsValidity(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sol := digits(solvedSudoku)
	if !ValidSudoku(sol) {
		t.Fatal("seed grid invalid")
	}
	for range 1000 {
		s := randomShuffle(rng)
		// Givens: a random subset of the solution, blanks 0.
		givens := slices.Clone(sol)
		for i := range givens {
			if rng.IntN(2) == 0 {
				givens[i] = 0
			}
		}
		outSol, outGiv := make([]byte, 81), make([]byte, 81)
		s.Apply(outSol, sol)
		s.Apply(outGiv, givens)
		if !ValidSudoku(outSol) {
			t.Fatalf("shuffle %s broke validity", s)
		}
		for i := range 81 {
			if outGiv[i] != 0 && outGiv[i] != outSol[i] {
				t.Fatalf("shuffle %s: given at %d disagrees with the solution", s, i)
			}
			if (outGiv[i] == 0) != (givens[s.mapping[i]] == 0) {
				t.Fatalf("shuffle %s: blank not preserved at %d", s, i)
			}
		}
	}
}

func TestSudokuShuffleRejectsBadDraws(t *testing.T) {
	id3 := [3]int{0, 1, 2}
	ids := [3][3]int{id3, id3, id3}
	if _, err := NewSudokuShuffle([9]byte{1, 1, 3, 4, 5, 6, 7, 8, 9}, false, id3, ids, id3, ids); err == nil {
		t.Error("repeated digit accepted")
	}
	if _, err := NewSudokuShuffle([9]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, false, [3]int{0, 0, 2}, ids, id3, ids); err == nil {
		t.Error("bad band permutation accepted")
	}
	s, err := NewSudokuShuffle([9]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, false, id3, ids, id3, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 81)
	s.Apply(out, digits(solvedSudoku))
	if string(out) != string(digits(solvedSudoku)) || s.String() != "d123456789|t0|r012345678|c012345678" {
		t.Errorf("identity shuffle changed the grid or is named %s", s)
	}
}

func TestRecolorInverse(t *testing.T) {
	perm := []byte{0, 6, 1, 2, 3, 9, 7, 8, 4, 5}
	inv := InversePermutation(perm)
	src := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 0}
	a, b := make([]byte, len(src)), make([]byte, len(src))
	Recolor(a, src, perm)
	Recolor(b, a, inv)
	if !slices.Equal(b, src) || a[1] != 6 {
		t.Fatalf("recolor %v then inverse %v", a, b)
	}
}
