package train

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlotMetrics(t *testing.T) {
	var recs []map[string]float64
	for s := 1; s <= 200; s++ {
		r := map[string]float64{"step": float64(s), "train/lm_loss": 2 / float64(s), "train/q_halt_loss": 0.1,
			"train/accuracy": float64(s) / 200, "train/exact_accuracy": 0, "train/count": float64(s % 2), "train/lr": 1e-3}
		recs = append(recs, r)
		if s%50 == 0 {
			recs = append(recs, map[string]float64{"step": float64(s), "all/accuracy": float64(s) / 250, "all/exact_accuracy": 0.1})
		}
	}
	data, err := PlotMetrics(recs, "test run")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 960 {
		t.Errorf("width %d", img.Bounds().Dx())
	}
	// The loss curve's colour must appear in the first panel.
	found := false
	for y := 28; y < 328 && !found; y++ {
		for x := 0; x < 480; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 == 31 && g>>8 == 119 && b>>8 == 180 {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no loss curve drawn")
	}
	if _, err := PlotMetrics(nil, "empty"); err == nil {
		t.Error("plotting no records succeeded")
	}
}

// FuzzPlotMetrics reads arbitrary metrics.jsonl text and plots what it
// accepts: malformed lines are errors naming the line, and any values
// (NaN, infinities, steps at float64's limits) must draw without a panic
// or a runaway line.
func FuzzPlotMetrics(f *testing.F) {
	for _, s := range []string{
		`{"step": 1, "train/lm_loss": 2.5, "train/count": 4, "train/accuracy": 0.5, "train/lr": 1e-4}`,
		`{"step": 1, "train/lm_loss": 2}` + "\n" + `{"step": 2, "all/accuracy": 0.5, "ARC/pass@2": 0.25}`,
		`{"step": -1.7976931348623157e308, "train/lm_loss": 1}` + "\n" + `{"step": 1.7976931348623157e308, "train/lm_loss": 1e308}`,
		`{"step": "NaN", "train/lm_loss": "Infinity"}` + "\n" + `{"step": 2, "train/lm_loss": "-Infinity"}`,
		`{"step": 1, "train/lm_loss": 0}` + "\n" + `{"step": 1, "train/lm_loss": 1e-300}`,
		`[1, 2]`, `{"step": 1,`, "\n\n", `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "metrics.jsonl")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		recs, err := ReadMetrics(path)
		if err != nil {
			if !strings.Contains(err.Error(), path+":") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		data, err := PlotMetrics(recs, "fuzz")
		if err != nil {
			return
		}
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("the plot is not a PNG: %v", err)
		}
	})
}
