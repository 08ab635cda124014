package augment

import "fmt"

// The ARC token canvas of the reference (spec/reference-data.md 2.11): every
// grid is placed on a 30x30 canvas, flattened row-major to 900 tokens.
const (
	ARCCanvas      = 30 // canvas height and width
	ARCSeqLen      = ARCCanvas * ARCCanvas
	ARCPad         = 0  // token of cells outside the grid
	ARCEOS         = 1  // token of the end-of-grid row and column
	ARCColourToken = 2  // colour c is token c + ARCColourToken
	ARCVocab       = 12 // PAD, EOS and colours 0..9
)

// DihedralStrides returns the affine form of transform t of an h x w grid:
// output cell (i, j) reads source cell off + i*si + j*sj. Every dihedral map
// is affine in (i, j), so hot loops can walk the source with two strides
// instead of evaluating the transform per cell. Ids outside 0..7 are the
// identity, as in Dihedral.
func DihedralStrides(h, w, t int) (off, si, sj int) {
	switch t {
	case Rot90:
		return w - 1, -1, w
	case Rot180:
		return h*w - 1, -w, -1
	case Rot270:
		return (h - 1) * w, 1, -w
	case FlipLR:
		return w - 1, w, -1
	case FlipUD:
		return (h - 1) * w, -w, 1
	case Transpose:
		return 0, 1, w
	case AntiTranspose:
		return h*w - 1, -1, -w
	}
	return 0, w, 1
}

// DihedralRecolor writes the reference's map_grid(src) into dst: every cell
// recoloured through mapping, then dihedral transform t (the two commute).
// It returns the result's shape; dst needs h*w bytes and must not overlap
// src.
func DihedralRecolor(dst, src []byte, h, w, t int, mapping *[256]byte) (int, int) {
	if len(src) != h*w || len(dst) < h*w {
		panic(fmt.Sprintf("augment.DihedralRecolor: %dx%d grid with %d source and %d destination bytes", h, w, len(src), len(dst)))
	}
	oh, ow := DihedralShape(h, w, t)
	off, si, sj := DihedralStrides(h, w, t)
	k := 0
	for i := range oh {
		s := off + i*si
		row := dst[k : k+ow]
		for j := range row {
			row[j] = mapping[src[s]]
			s += sj
		}
		k += ow
	}
	return oh, ow
}

// EncodeARC writes the h x w grid (colours 0..9, row-major) onto the 30x30
// token canvas dst with its top-left cell at (padR, padC): PAD everywhere,
// colour+2 on the grid, EOS on the row below the grid (grid columns only)
// and on the column right of it (grid rows only); the corner between them
// stays PAD (quirk Q-A4). Parts of the EOS frame that fall off the canvas
// are dropped, as in the reference.
func EncodeARC(dst *[ARCSeqLen]byte, grid []byte, h, w, padR, padC int) {
	if h < 1 || w < 1 || padR < 0 || padC < 0 || padR+h > ARCCanvas || padC+w > ARCCanvas || len(grid) != h*w {
		panic(fmt.Sprintf("augment.EncodeARC: %dx%d grid (%d bytes) at (%d, %d) does not fit the canvas", h, w, len(grid), padR, padC))
	}
	clear(dst[:])
	er, ec := padR+h, padC+w
	for r := range h {
		row := dst[(padR+r)*ARCCanvas+padC : (padR+r)*ARCCanvas+ec]
		src := grid[r*w : r*w+w]
		for c, v := range src {
			row[c] = v + ARCColourToken
		}
		if ec < ARCCanvas {
			dst[(padR+r)*ARCCanvas+ec] = ARCEOS
		}
	}
	if er < ARCCanvas {
		eos := dst[er*ARCCanvas+padC : er*ARCCanvas+ec]
		for c := range eos {
			eos[c] = ARCEOS
		}
	}
}
