// Package augment holds pure, invertible grid transforms: the 8 dihedral
// maps and their inverses, colour permutations and the Sudoku band/stack/
// digit shuffle. It has no randomness of its own: callers pass the random
// draws, so the same code serves trm's seeded streams and numpy-compatible
// replays of the reference builders.
//
// Grids are row-major byte slices with explicit height and width.
package augment

import "fmt"

// NumDihedral is the number of dihedral transforms of a rectangle.
const NumDihedral = 8

// Dihedral transform ids, numbered as the reference's dihedral_transform.
const (
	Identity      = 0 // B = A
	Rot90         = 1 // numpy rot90(A, 1): 90 degrees counter-clockwise
	Rot180        = 2
	Rot270        = 3 // 90 degrees clockwise
	FlipLR        = 4 // mirror columns
	FlipUD        = 5 // mirror rows
	Transpose     = 6 // main diagonal
	AntiTranspose = 7 // anti-diagonal: fliplr(rot90(A))
)

// DihedralInverse[t] undoes t: rotations by 90 and 270 swap, the rest are
// involutions.
var DihedralInverse = [NumDihedral]int{0, 3, 2, 1, 4, 5, 6, 7}

// DihedralShape is the shape of an h x w grid after transform t.
func DihedralShape(h, w, t int) (int, int) {
	switch t {
	case Rot90, Rot270, Transpose, AntiTranspose:
		return w, h
	}
	return h, w
}

// dihedralSource returns the source cell (row, column) of output cell (i, j)
// for transform t of an h x w grid (spec/reference-data.md 2.7). Ids outside
// 0..7 are the identity, as in the reference.
func dihedralSource(h, w, t, i, j int) (int, int) {
	switch t {
	case Rot90:
		return j, w - 1 - i
	case Rot180:
		return h - 1 - i, w - 1 - j
	case Rot270:
		return h - 1 - j, i
	case FlipLR:
		return i, w - 1 - j
	case FlipUD:
		return h - 1 - i, j
	case Transpose:
		return j, i
	case AntiTranspose:
		return h - 1 - j, w - 1 - i
	}
	return i, j
}

// Dihedral writes transform t of the h x w grid src into dst and returns the
// result's shape. dst must not overlap src and needs h*w bytes.
func Dihedral(dst, src []byte, h, w, t int) (int, int) {
	if len(src) != h*w || len(dst) < h*w {
		panic(fmt.Sprintf("augment.Dihedral: %dx%d grid with %d source and %d destination bytes", h, w, len(src), len(dst)))
	}
	oh, ow := DihedralShape(h, w, t)
	if t == Identity || t < 0 || t >= NumDihedral {
		copy(dst, src)
		return oh, ow
	}
	k := 0
	for i := range oh {
		for j := range ow {
			r, c := dihedralSource(h, w, t, i, j)
			dst[k] = src[r*w+c]
			k++
		}
	}
	return oh, ow
}

// DihedralMap returns, for transform t of an h x w grid, the source index of
// every output cell: out[k] = src[m[k]]. Builders that apply one transform
// to many grids of the same shape precompute it.
func DihedralMap(h, w, t int) []int {
	oh, ow := DihedralShape(h, w, t)
	m := make([]int, 0, h*w)
	for i := range oh {
		for j := range ow {
			r, c := dihedralSource(h, w, t, i, j)
			m = append(m, r*w+c)
		}
	}
	return m
}

// ComposeDihedral returns the transform equal to applying a, then b.
func ComposeDihedral(a, b int) int { return composeTable[a][b] }

// composeTable is derived once by applying both transforms to a grid whose
// cells are all distinct and finding the single transform that matches.
var composeTable = func() (tab [NumDihedral][NumDihedral]int) {
	const h, w = 2, 3
	src := []byte{0, 1, 2, 3, 4, 5}
	tmp, out, cand := make([]byte, 6), make([]byte, 6), make([]byte, 6)
	for a := range NumDihedral {
		for b := range NumDihedral {
			ah, aw := Dihedral(tmp, src, h, w, a)
			Dihedral(out, tmp, ah, aw, b)
			tab[a][b] = -1
			for c := range NumDihedral {
				Dihedral(cand, src, h, w, c)
				if string(cand) == string(out) {
					tab[a][b] = c
				}
			}
			if tab[a][b] < 0 {
				panic("augment: dihedral transforms do not close under composition")
			}
		}
	}
	return tab
}()

// Recolor writes mapping[src[i]] into dst[i]. mapping must cover every value
// present in src.
func Recolor(dst, src, mapping []byte) {
	for i, v := range src {
		dst[i] = mapping[v]
	}
}

// InversePermutation returns inv with inv[p[i]] = i.
func InversePermutation(p []byte) []byte {
	inv := make([]byte, len(p))
	for i, v := range p {
		inv[v] = byte(i)
	}
	return inv
}
