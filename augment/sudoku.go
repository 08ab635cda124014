package augment

import (
	"fmt"
	"strings"
)

// SudokuShuffle is one validity-preserving Sudoku transform as the
// reference's shuffle_sudoku: a digit relabelling (blank 0 fixed), an
// optional transpose, and a row and a column permutation that each permute
// bands (stacks) and rows (columns) within them.
type SudokuShuffle struct {
	DigitMap  [10]byte // DigitMap[old] = new; DigitMap[0] = 0
	Transpose bool
	RowPerm   [9]int // output row r takes row RowPerm[r] of the (transposed) grid
	ColPerm   [9]int
	mapping   [81]uint8 // output cell -> source cell, transpose folded in
}

// NewSudokuShuffle assembles a shuffle from its random draws, in the
// reference's order: digits is a permutation of 1..9 (new digit of old digit
// d is digits[d-1]); bands and stacks are permutations of 0..2; rowsInBand[i]
// permutes the rows of band bands[i], colsInStack[i] the columns of stack
// stacks[i].
func NewSudokuShuffle(digits [9]byte, transpose bool, bands [3]int, rowsInBand [3][3]int, stacks [3]int, colsInStack [3][3]int) (*SudokuShuffle, error) {
	s := &SudokuShuffle{Transpose: transpose}
	seen := 0
	for i, d := range digits {
		if d < 1 || d > 9 || seen&(1<<d) != 0 {
			return nil, fmt.Errorf("sudoku shuffle: digits %v is not a permutation of 1..9", digits)
		}
		seen |= 1 << d
		s.DigitMap[i+1] = d
	}
	if err := checkPerm3(bands[:]); err != nil {
		return nil, err
	}
	if err := checkPerm3(stacks[:]); err != nil {
		return nil, err
	}
	for i := range 3 {
		if err := checkPerm3(rowsInBand[i][:]); err != nil {
			return nil, err
		}
		if err := checkPerm3(colsInStack[i][:]); err != nil {
			return nil, err
		}
		for k := range 3 {
			s.RowPerm[i*3+k] = bands[i]*3 + rowsInBand[i][k]
			s.ColPerm[i*3+k] = stacks[i]*3 + colsInStack[i][k]
		}
	}
	for r := range 9 {
		for c := range 9 {
			rr, cc := s.RowPerm[r], s.ColPerm[c]
			if transpose {
				rr, cc = cc, rr
			}
			s.mapping[r*9+c] = uint8(rr*9 + cc)
		}
	}
	return s, nil
}

func checkPerm3(p []int) error {
	if len(p) != 3 || p[0]+p[1]+p[2] != 3 || p[0] == p[1] || p[1] == p[2] || p[0] == p[2] || min(p[0], p[1], p[2]) != 0 {
		return fmt.Errorf("sudoku shuffle: %v is not a permutation of 0..2", p)
	}
	return nil
}

// Apply writes the shuffled 81-cell grid src into dst (digits 0..9, 0 blank).
func (s *SudokuShuffle) Apply(dst, src []byte) {
	_ = src[80]
	_ = dst[80]
	for i, from := range s.mapping {
		dst[i] = s.DigitMap[src[from]]
	}
}

// String describes the shuffle compactly for the dataset's aug column:
// d<new digits of 1..9>|t<0|1>|r<row perm>|c<col perm>.
func (s *SudokuShuffle) String() string {
	var b strings.Builder
	b.Grow(34)
	b.WriteByte('d')
	for _, d := range s.DigitMap[1:] {
		b.WriteByte('0' + d)
	}
	b.WriteString("|t")
	if s.Transpose {
		b.WriteByte('1')
	} else {
		b.WriteByte('0')
	}
	b.WriteString("|r")
	for _, r := range s.RowPerm {
		b.WriteByte('0' + byte(r))
	}
	b.WriteString("|c")
	for _, c := range s.ColPerm {
		b.WriteByte('0' + byte(c))
	}
	return b.String()
}

// ValidSudoku reports whether a solved 81-cell grid (digits 1..9) has every
// digit once per row, column and box.
func ValidSudoku(g []byte) bool {
	if len(g) != 81 {
		return false
	}
	for u := range 9 {
		var row, col, box uint16
		for k := range 9 {
			r := g[u*9+k]
			c := g[k*9+u]
			b := g[(u/3*3+k/3)*9+u%3*3+k%3]
			if r < 1 || r > 9 || c < 1 || c > 9 || b < 1 || b > 9 {
				return false
			}
			row |= 1 << r
			col |= 1 << c
			box |= 1 << b
		}
		if row != 0x3fe || col != 0x3fe || box != 0x3fe {
			return false
		}
	}
	return true
}
