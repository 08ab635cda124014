package augment

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDihedralStridesMatchDihedralMap(t *testing.T) {
	for h := 1; h <= 5; h++ {
		for w := 1; w <= 5; w++ {
			for tid := range NumDihedral + 1 { // 8: out of range, identity
				m := DihedralMap(h, w, tid)
				oh, ow := DihedralShape(h, w, tid)
				off, si, sj := DihedralStrides(h, w, tid)
				for i := range oh {
					for j := range ow {
						if got := off + i*si + j*sj; got != m[i*ow+j] {
							t.Fatalf("%dx%d t%d cell (%d,%d): strides give %d, map %d", h, w, tid, i, j, got, m[i*ow+j])
						}
					}
				}
			}
		}
	}
}

func TestDihedralRecolor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var mapping [256]byte
	for i := range mapping {
		mapping[i] = byte(255 - i)
	}
	for range 100 {
		g, h, w := randomGrid(rng)
		for tid := range NumDihedral {
			want := make([]byte, len(g))
			wh, ww := Dihedral(want, g, h, w, tid)
			for i, v := range want {
				want[i] = mapping[v]
			}
			got := make([]byte, len(g))
			gh, gw := DihedralRecolor(got, g, h, w, tid, &mapping)
			if gh != wh || gw != ww || !slices.Equal(got, want) {
				t.Fatalf("%dx%d t%d: got %v, want %v", h, w, tid, got, want)
			}
		}
	}
}

// canvasOracle builds the reference canvas cell by cell from the rules of
// spec/reference-data.md 2.11, as a second implementation for EncodeARC.
func canvasOracle(grid []byte, h, w, pr, pc int) [ARCSeqLen]byte {
	var c [ARCSeqLen]byte
	for r := range ARCCanvas {
		for col := range ARCCanvas {
			gr, gc := r-pr, col-pc
			switch {
			case gr >= 0 && gr < h && gc >= 0 && gc < w:
				c[r*ARCCanvas+col] = grid[gr*w+gc] + 2
			case gr == h && gc >= 0 && gc < w: // row under the grid
				c[r*ARCCanvas+col] = 1
			case gc == w && gr >= 0 && gr < h: // column right of the grid
				c[r*ARCCanvas+col] = 1
			}
		}
	}
	return c
}

func TestEncodeARC(t *testing.T) {
	// A 2x3 grid at (1, 2): the spec's layout written out by hand.
	var got [ARCSeqLen]byte
	EncodeARC(&got, []byte{0, 1, 2, 3, 4, 9}, 2, 3, 1, 2)
	want := map[[2]int]byte{
		{1, 2}: 2, {1, 3}: 3, {1, 4}: 4, {1, 5}: 1,
		{2, 2}: 5, {2, 3}: 6, {2, 4}: 11, {2, 5}: 1,
		{3, 2}: 1, {3, 3}: 1, {3, 4}: 1, // {3,5}: the corner stays PAD
	}
	for r := range ARCCanvas {
		for c := range ARCCanvas {
			if got[r*ARCCanvas+c] != want[[2]int{r, c}] {
				t.Fatalf("cell (%d,%d) = %d, want %d", r, c, got[r*ARCCanvas+c], want[[2]int{r, c}])
			}
		}
	}

	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		h, w := 1+rng.IntN(30), 1+rng.IntN(30)
		g := make([]byte, h*w)
		for i := range g {
			g[i] = byte(rng.IntN(10))
		}
		pr, pc := rng.IntN(31-h), rng.IntN(31-w)
		got[0] = 99 // EncodeARC must overwrite stale content
		EncodeARC(&got, g, h, w, pr, pc)
		if want := canvasOracle(g, h, w, pr, pc); got != want {
			t.Fatalf("%dx%d at (%d,%d): canvas differs from the oracle", h, w, pr, pc)
		}
	}
}

func TestEncodeARCRejectsOverflow(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a 5x5 grid at row 26 did not panic")
		}
	}()
	var c [ARCSeqLen]byte
	EncodeARC(&c, make([]byte, 25), 5, 5, 26, 0)
}
