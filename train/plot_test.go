package train

import (
	"bytes"
	"image/png"
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
