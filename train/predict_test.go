package train

import (
	"context"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
)

// TestPredictMatchesEvaluation: predicting the test rows one at a time must
// give the token and exact accuracy that the batched evaluation reports
// (within float32 summation error of its per-batch metrics).
func TestPredictMatchesEvaluation(t *testing.T) {
	data := mazeDataset(t, 64, 12, 7)
	run := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig(t, data, run, "epochs=4", "eval_interval=2")
	tr, err := New(context.Background(), cfg, Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	res, err := EvalCheckpoint(context.Background(), run, nil, nil, EvalJob{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	split, meta, err := ds.Split("test")
	if err != nil {
		t.Fatal(err)
	}
	var acc, exact float64
	for row := range split.Rows {
		ex, err := ds.ReadRow(context.Background(), "test", row)
		if err != nil {
			t.Fatal(err)
		}
		pred, steps, err := Predict(context.Background(), run, ex.Input, ex.Identifier, meta.VocabSize, meta.NumPuzzleIdentifiers)
		if err != nil {
			t.Fatal(err)
		}
		if steps != cfg.Arch.HaltMaxSteps {
			t.Fatalf("row %d: %d steps, evaluation always runs %d", row, steps, cfg.Arch.HaltMaxSteps)
		}
		right := 0
		for i := range pred {
			if pred[i] == ex.Label[i] {
				right++
			}
		}
		acc += float64(right) / float64(len(pred))
		if right == len(pred) {
			exact++
		}
	}
	n := float64(split.Rows)
	if math.Abs(acc/n-res.Metrics["all/accuracy"]) > 1e-6 || math.Abs(exact/n-res.Metrics["all/exact_accuracy"]) > 1e-6 {
		t.Fatalf("one at a time: accuracy %v exact %v; batched evaluation: %v %v", acc/n, exact/n, res.Metrics["all/accuracy"], res.Metrics["all/exact_accuracy"])
	}
}

// TestFreezeWeights: with freeze_weights only the puzzle embeddings learn.
func TestFreezeWeights(t *testing.T) {
	data := mazeDataset(t, 64, 8, 3)
	for _, freeze := range []bool{true, false} {
		extra := []string{"epochs=2", "eval_interval=2"}
		if freeze {
			extra = append(extra, "freeze_weights=True")
		}
		tr, err := New(context.Background(), tinyConfig(t, data, filepath.Join(t.TempDir(), "run"), extra...), Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := tr.Model()
		params := append([]float32(nil), m.Params...)
		emb := append([]float32(nil), m.PuzzleEmb...)
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		paramsMoved, embMoved := !slices.Equal(params, m.Params), !slices.Equal(emb, m.PuzzleEmb)
		if paramsMoved == freeze || !embMoved {
			t.Fatalf("freeze_weights=%v: weights changed %v, puzzle embeddings changed %v", freeze, paramsMoved, embMoved)
		}
	}
}

// TestEvalWeightsFile: trm eval of a bare weights file (configured by
// overrides and --data, as a reference checkpoint is) reports the metrics
// of the checkpoint directory it came from; without --data it says what is
// missing.
func TestEvalWeightsFile(t *testing.T) {
	data := mazeDataset(t, 64, 12, 8)
	run := filepath.Join(t.TempDir(), "run")
	trainTiny(t, data, run, "epochs=2", "eval_interval=2")
	fromDir, err := EvalCheckpoint(context.Background(), run, nil, nil, EvalJob{})
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(t.TempDir(), "step_8")
	if err := os.WriteFile(weights, mustRead(t, filepath.Join(fromDir.Checkpoint, WeightsFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := EvalCheckpoint(context.Background(), weights, []string{data}, tinyOverrides(data, run), EvalJob{})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(fromFile.Metrics, fromDir.Metrics) || fromFile.Step != 8 || fromFile.OutputDir != weights+"_eval" {
		t.Fatalf("weights file: step %d, outputs in %s, %v; checkpoint directory: %v", fromFile.Step, fromFile.OutputDir, fromFile.Metrics, fromDir.Metrics)
	}
	if _, err := EvalCheckpoint(context.Background(), weights, nil, nil, EvalJob{}); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("weights file without --data: %v, want an error asking for it", err)
	}
}
