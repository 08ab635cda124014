// Package render draws token grids for people: ANSI-coloured text for the
// terminal and PNG pictures, with palettes for the three puzzle families
// (ARC colours, Sudoku digits, Maze walls and paths).
package render

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
)

// Kind selects how tokens are drawn.
type Kind int

const (
	Generic Kind = iota // token numbers
	ARC                 // 0 PAD, 1 EOS, 2..11 the ten ARC colours
	Sudoku              // 1 blank, 2..10 digits 1..9
	Maze                // 1 wall, 2 open, 3 start, 4 goal, 5 path
)

// KindFor guesses the family from the vocabulary size and sequence length
// that the builders use.
func KindFor(vocab, seqLen int) Kind {
	switch {
	case vocab == 12 && seqLen == 900:
		return ARC
	case vocab == 11 && seqLen == 81:
		return Sudoku
	case vocab == 6:
		return Maze
	}
	return Generic
}

// arcColours is the usual ARC palette for colours 0..9.
var arcColours = [10]color.RGBA{
	{0, 0, 0, 255}, {0, 116, 217, 255}, {255, 65, 54, 255}, {46, 204, 64, 255}, {255, 220, 0, 255},
	{170, 170, 170, 255}, {240, 18, 190, 255}, {255, 133, 27, 255}, {127, 219, 255, 255}, {135, 12, 37, 255},
}

var mazeColours = [6]color.RGBA{{255, 255, 255, 255}, {40, 40, 40, 255}, {235, 235, 235, 255}, {46, 204, 64, 255}, {255, 65, 54, 255}, {0, 116, 217, 255}}

// colour is the picture colour of a token.
func colour(k Kind, t byte) color.RGBA {
	switch {
	case k == ARC && t >= 2 && t < 12:
		return arcColours[t-2]
	case k == ARC && t == 1:
		return color.RGBA{90, 90, 90, 255}
	case k == Maze && int(t) < len(mazeColours):
		return mazeColours[t]
	case k == Sudoku && t == 1:
		return color.RGBA{250, 250, 250, 255}
	case k == Sudoku && t >= 2 && t <= 10:
		g := uint8(255 - 18*int(t-1))
		return color.RGBA{g, g, 255, 255}
	}
	return color.RGBA{255, 255, 255, 255}
}

// Text writes a grid two characters per cell, with ANSI 24-bit colours when
// colours is set (pass false when the output is not a terminal).
func Text(w io.Writer, tokens []byte, h, wd int, k Kind, colours bool) error {
	if !colours && (k == ARC || k == Maze) {
		return plainText(w, tokens, h, wd, k)
	}
	var b strings.Builder
	for r := range h {
		for c := range wd {
			t := tokens[r*wd+c]
			switch k {
			case ARC:
				if t == 0 {
					b.WriteString("\x1b[0m  ")
					continue
				}
				col := colour(k, t)
				mark := "  "
				if t == 1 {
					mark = "··"
				}
				fmt.Fprintf(&b, "\x1b[48;2;%d;%d;%dm%s", col.R, col.G, col.B, mark)
			case Sudoku:
				if t <= 1 {
					b.WriteString(" .")
				} else {
					fmt.Fprintf(&b, " %d", t-1)
				}
				if c%3 == 2 && c < wd-1 {
					b.WriteString(" |")
				}
			case Maze:
				const chars = "?# SGo"
				col := colour(k, t)
				ch := byte('?')
				if int(t) < len(chars) {
					ch = chars[t]
				}
				fmt.Fprintf(&b, "\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m%c%c", col.R, col.G, col.B, ch, ch)
			default:
				fmt.Fprintf(&b, "%3d", t)
			}
		}
		if k == ARC || k == Maze {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
		if k == Sudoku && r%3 == 2 && r < h-1 {
			b.WriteString(strings.Repeat("-", 2*wd+4) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PNG draws grids side by side (e.g. input, label, prediction) with cell
// pixels per cell and a gap between them.
func PNG(w io.Writer, grids [][]byte, h, wd, cell int, k Kind) error {
	const gap = 1
	img := image.NewRGBA(image.Rect(0, 0, len(grids)*(wd*cell+gap*cell)-gap*cell, h*cell))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for gi, g := range grids {
		x0 := gi * (wd*cell + gap*cell)
		for r := range h {
			for c := range wd {
				col := colour(k, g[r*wd+c])
				if k == Generic {
					v := uint8(255 - min(255, int(g[r*wd+c])*20))
					col = color.RGBA{v, v, v, 255}
				}
				for y := range cell {
					for x := range cell {
						// A thin grid line keeps cells distinguishable.
						if x == cell-1 || y == cell-1 {
							img.SetRGBA(x0+c*cell+x, r*cell+y, color.RGBA{200, 200, 200, 255})
						} else {
							img.SetRGBA(x0+c*cell+x, r*cell+y, col)
						}
					}
				}
			}
		}
	}
	return png.Encode(w, img)
}

// plainText draws ARC and Maze grids with characters only: ARC colours as
// digits, '.' for PAD and '|' for EOS; mazes in their CSV charset.
func plainText(w io.Writer, tokens []byte, h, wd int, k Kind) error {
	var b strings.Builder
	for r := range h {
		for c := range wd {
			t := tokens[r*wd+c]
			ch := byte('?')
			switch {
			case k == Maze && t >= 1 && t <= 5:
				ch = "# SGo"[t-1]
			case k == ARC && t == 0:
				ch = '.'
			case k == ARC && t == 1:
				ch = '|'
			case k == ARC && t < 12:
				ch = '0' + t - 2
			}
			b.WriteByte(ch)
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
