package train

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one curve: (step, value) points.
type series struct {
	name   string
	x, y   []float64
	colour color.RGBA
}

// panel is one chart of the figure.
type panel struct {
	title string
	log   bool // logarithmic y axis
	lines []series
}

var palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}}

// PlotMetrics draws the main curves of a run's metrics records (from
// ReadMetrics) as a PNG: training loss, training accuracies, evaluation
// accuracies (and ARC pass@K when present), learning rate.
func PlotMetrics(recs []map[string]float64, title string) ([]byte, error) {
	pick := func(keys ...string) []series {
		var out []series
		for i, k := range keys {
			s := series{name: k, colour: palette[i%len(palette)]}
			// Train accuracies are over the rows that halted in the step;
			// steps where none did log 0 and are left out.
			perHalted := strings.HasPrefix(k, "train/") && !strings.HasSuffix(k, "loss") && k != "train/lr"
			for _, r := range recs {
				if c, ok := r["train/count"]; perHalted && (!ok || c == 0) {
					continue
				}
				if v, ok := r[k]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
					s.x = append(s.x, r["step"])
					s.y = append(s.y, v)
				}
			}
			if strings.HasPrefix(k, "train/") && k != "train/lr" {
				s.name += " (mean of " + strconv.Itoa(smooth(s.y)) + ")"
			}
			if len(s.x) > 0 {
				out = append(out, s)
			}
		}
		return out
	}
	evalKeys := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			if strings.HasSuffix(k, "/accuracy") || strings.HasSuffix(k, "/exact_accuracy") || strings.HasPrefix(k, "ARC/pass@") {
				if !strings.HasPrefix(k, "train/") {
					evalKeys[k] = true
				}
			}
		}
	}
	ek := make([]string, 0, len(evalKeys))
	for k := range evalKeys {
		ek = append(ek, k)
	}
	slices.Sort(ek)
	panels := []panel{
		{title: "training loss", log: true, lines: pick("train/lm_loss", "train/q_halt_loss")},
		{title: "training accuracy", lines: pick("train/accuracy", "train/exact_accuracy", "train/q_halt_accuracy")},
		{title: "evaluation", lines: pick(ek...)},
		{title: "learning rate", lines: pick("train/lr")},
	}
	if len(panels[0].lines) == 0 {
		return nil, fmt.Errorf("no training records to plot")
	}
	const pw, ph, top = 480, 300, 28
	img := image.NewRGBA(image.Rect(0, 0, 2*pw, top+2*ph))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, 10, 18, title, color.Black)
	for i, p := range panels {
		drawPanel(img, image.Rect((i%2)*pw, top+(i/2)*ph, (i%2+1)*pw, top+(i/2+1)*ph), p)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func drawPanel(img *image.RGBA, r image.Rectangle, p panel) {
	grey := color.RGBA{200, 200, 200, 255}
	text(img, r.Min.X+60, r.Min.Y+16, p.title+" (x: step)", color.Black)
	plot := image.Rect(r.Min.X+60, r.Min.Y+26, r.Max.X-16, r.Max.Y-56)
	if len(p.lines) == 0 {
		text(img, plot.Min.X+10, plot.Min.Y+20, "(no data)", color.Gray{120})
		return
	}
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	ty := func(v float64) float64 {
		if p.log {
			return math.Log10(math.Max(v, 1e-12))
		}
		return v
	}
	for _, s := range p.lines {
		for i := range s.x {
			x0, x1 = math.Min(x0, s.x[i]), math.Max(x1, s.x[i])
			y0, y1 = math.Min(y0, ty(s.y[i])), math.Max(y1, ty(s.y[i]))
		}
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y0, y1 = y0-0.5, y1+0.5
	}
	px := func(x float64) int { return plot.Min.X + pixel((x-x0)/(x1-x0), plot.Dx()) }
	py := func(y float64) int { return plot.Max.Y - 1 - pixel((ty(y)-y0)/(y1-y0), plot.Dy()) }
	// Frame, grid and tick labels.
	for k := 0; k <= 4; k++ {
		gy := plot.Max.Y - 1 - k*(plot.Dy()-1)/4
		line(img, plot.Min.X, gy, plot.Max.X-1, gy, grey)
		v := y0 + float64(k)/4*(y1-y0)
		if p.log {
			v = math.Pow(10, v)
		}
		text(img, r.Min.X+2, gy+4, strconv.FormatFloat(v, 'g', 3, 64), color.Black)
		gx := plot.Min.X + k*(plot.Dx()-1)/4
		line(img, gx, plot.Min.Y, gx, plot.Max.Y-1, grey)
		text(img, gx-10, plot.Max.Y+14, strconv.FormatFloat(x0+float64(k)/4*(x1-x0), 'f', 0, 64), color.Black)
	}
	for _, s := range p.lines {
		for i := 1; i < len(s.x); i++ {
			line(img, px(s.x[i-1]), py(s.y[i-1]), px(s.x[i]), py(s.y[i]), s.colour)
		}
		if len(s.x) == 1 {
			line(img, px(s.x[0])-2, py(s.y[0]), px(s.x[0])+2, py(s.y[0]), s.colour)
		}
	}
	x, y := r.Min.X+8, r.Max.Y-24
	for _, s := range p.lines {
		w := 16 + 7*len(s.name) + 12
		if x+w > r.Max.X {
			x, y = r.Min.X+8, y+14
		}
		line(img, x, y-4, x+12, y-4, s.colour)
		text(img, x+16, y, s.name, color.Black)
		x += w
	}
}

// pixel maps a fraction of an axis to one of its n pixels. Ranges at
// float64's limits overflow to infinities and NaN (steps of ±1e308 in a
// hand-edited metrics file); those land on the axis's ends rather than
// make a line of 2^63 pixels.
func pixel(frac float64, n int) int {
	switch {
	case math.IsNaN(frac) || frac <= 0:
		return 0
	case frac >= 1:
		return n - 1
	}
	return int(math.Round(frac * float64(n-1)))
}

// smooth replaces y by its trailing moving average over about 1/50 of the
// points (one step's metrics are noisy: few rows halt per step) and returns
// the window.
func smooth(y []float64) int {
	w := max(1, len(y)/50)
	sum := 0.0
	orig := slices.Clone(y)
	for i := range y {
		sum += orig[i]
		if i >= w {
			sum -= orig[i-w]
		}
		y[i] = sum / float64(min(i+1, w))
	}
	return w
}

// line draws a one-pixel segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
