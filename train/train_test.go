package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tinyrecursion/trm/pipeline"
)

// mazeDataset builds generated size-9 mazes (seeded) once per test binary.
func mazeDataset(t testing.TB, train, test int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "maze")
	cfg := pipeline.MazeConfig{Generate: train, GenerateTest: test, Size: 9, Seed: 7}
	if _, err := pipeline.BuildMaze(context.Background(), cfg, pipeline.Output{Dir: dir, Workers: 2, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyConfig is a small TRM for the maze tests.
func tinyConfig(t testing.TB, data, run string, extra ...string) *Config {
	t.Helper()
	o := []string{
		"data_paths=[" + data + "]", "evaluators=[]", "checkpoint_path=" + run,
		"arch.hidden_size=32", "arch.num_heads=2", "arch.L_layers=1", "arch.H_cycles=2", "arch.L_cycles=2",
		"arch.halt_max_steps=4", "arch.puzzle_emb_len=1", "arch.puzzle_emb_ndim=32",
		"global_batch_size=16", "lr=1e-3", "lr_warmup_steps=10", "puzzle_emb_lr=1e-2",
		"weight_decay=0.1", "puzzle_emb_weight_decay=0.1", "workers=2",
	}
	c, err := LoadConfig("", append(o, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTrainSmoke(t *testing.T) {
	data := mazeDataset(t, 64, 16)
	run := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig(t, data, run, "epochs=4", "eval_interval=2", "ema=True")
	tr, err := New(context.Background(), cfg, Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadMetrics(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("no metrics")
	}
	t.Logf("%d records, last %v", len(recs), recs[len(recs)-1])
	_ = bytes.Equal
	_ = errors.Is
	_ = strconv.Itoa
}
