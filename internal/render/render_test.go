package render

import (
	"bytes"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func TestKindFor(t *testing.T) {
	for _, c := range []struct {
		vocab, seqLen int
		want          Kind
	}{{12, 900, ARC}, {11, 81, Sudoku}, {6, 900, Maze}, {6, 81, Maze}, {12, 81, Generic}, {11, 900, Generic}, {10, 81, Generic}} {
		if got := KindFor(c.vocab, c.seqLen); got != c.want {
			t.Errorf("KindFor(%d, %d) = %d, want %d", c.vocab, c.seqLen, got, c.want)
		}
	}
}

// TestSudokuText: digits 1..9 are tokens 2..10, blanks token 1; the boxes
// are split by '|' within a row and by a rule of dashes every three rows.
func TestSudokuText(t *testing.T) {
	grid := make([]byte, 81)
	for i := range grid {
		grid[i] = 1
	}
	for c := range 9 {
		grid[c] = byte(c + 2)      // row 0: 1..9
		grid[4*9+c] = byte(10 - c) // row 4: 9..1
	}
	var b strings.Builder
	if err := Text(&b, grid, 9, 9, Sudoku, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	rule := strings.Repeat("-", 22)
	want := []string{
		" 1 2 3 | 4 5 6 | 7 8 9",
		" . . . | . . . | . . .",
		" . . . | . . . | . . .",
		rule,
		" . . . | . . . | . . .",
		" 9 8 7 | 6 5 4 | 3 2 1",
		" . . . | . . . | . . .",
		rule,
		" . . . | . . . | . . .",
		" . . . | . . . | . . .",
		" . . . | . . . | . . .",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Sudoku text:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestPlainText: without a terminal, ARC colours are digits, PAD '.' and
// EOS '|'; mazes use the reference CSV's characters.
func TestPlainText(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		tokens []byte
		want   string
	}{
		{ARC, []byte{0, 1, 2, 11, 5, 3}, ". | 0 \n9 3 1 \n"},
		{Maze, []byte{1, 2, 3, 4, 5, 9}, "#   S \nG o ? \n"},
	} {
		var b strings.Builder
		if err := Text(&b, c.tokens, 2, 3, c.kind, false); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("kind %d: %q, want %q", c.kind, b.String(), c.want)
		}
	}
}

// TestColourText: on a terminal every ARC cell is a 24-bit background in
// its palette colour, and every line resets the colour before it ends.
func TestColourText(t *testing.T) {
	var b strings.Builder
	if err := Text(&b, []byte{2, 4, 0, 11}, 2, 2, ARC, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"\x1b[48;2;0;0;0m  ", "\x1b[48;2;255;65;54m  ", "\x1b[0m  ", "\x1b[48;2;135;12;37m  "} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured ARC text lacks %q: %q", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasSuffix(line, "\x1b[0m") {
			t.Errorf("line %q does not reset the colour", line)
		}
	}
}

// TestPNG: grids side by side, one grid's width apart plus a one-cell gap;
// each cell filled with its token's colour, its last row and column a grey
// grid line, the gap white.
func TestPNG(t *testing.T) {
	const h, w, cell = 2, 3, 4
	grids := [][]byte{{2, 3, 4, 5, 6, 7}, {11, 10, 9, 8, 1, 0}}
	var buf bytes.Buffer
	if err := PNG(&buf, grids, h, w, cell, ARC); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got.X != 2*w*cell+cell || got.Y != h*cell {
		t.Fatalf("picture is %v, want %dx%d", got, 2*w*cell+cell, h*cell)
	}
	rgba := func(x, y int) color.RGBA {
		r, g, b, a := img.At(x, y).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	for gi, g := range grids {
		x0 := gi * (w*cell + cell)
		for r := range h {
			for c := range w {
				if got, want := rgba(x0+c*cell+1, r*cell+1), colour(ARC, g[r*w+c]); got != want {
					t.Errorf("grid %d cell (%d,%d), token %d: %v, want %v", gi, r, c, g[r*w+c], got, want)
				}
				if got := rgba(x0+c*cell+cell-1, r*cell+1); got != (color.RGBA{200, 200, 200, 255}) {
					t.Errorf("grid %d cell (%d,%d): grid line %v", gi, r, c, got)
				}
			}
		}
	}
	if got := rgba(w*cell+1, 1); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("gap between the grids: %v, want white", got)
	}
	// Distinct tokens get distinct colours.
	seen := map[color.RGBA]byte{}
	for tok := byte(1); tok < 12; tok++ {
		c := colour(ARC, tok)
		if prev, ok := seen[c]; ok {
			t.Errorf("tokens %d and %d share the colour %v", prev, tok, c)
		}
		seen[c] = tok
	}
}
