package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tinyrecursion/trm/pipeline"
)

// mazeDataset builds generated size-9 mazes from seed.
func mazeDataset(t testing.TB, train, test int, seed int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "maze")
	cfg := pipeline.MazeConfig{Generate: train, GenerateTest: test, Size: 9, Seed: seed}
	if _, err := pipeline.BuildMaze(context.Background(), cfg, pipeline.Output{Dir: dir, Workers: 2, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyConfig is a small TRM for the maze tests.
func tinyConfig(t testing.TB, data, run string, extra ...string) *Config {
	t.Helper()
	c, err := LoadConfig("", tinyOverrides(data, run, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// trainTiny trains tinyConfig(data, run, extra...) to the end and returns
// the closed trainer (its model keeps the trained weights).
func trainTiny(t testing.TB, data, run string, extra ...string) *Trainer {
	t.Helper()
	tr, err := New(context.Background(), tinyConfig(t, data, run, extra...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// tinyOverrides are tinyConfig's settings in the reference's syntax.
func tinyOverrides(data, run string, extra ...string) []string {
	o := []string{
		"data_paths=[" + data + "]", "evaluators=[]", "checkpoint_path=" + run,
		"arch.hidden_size=32", "arch.num_heads=2", "arch.L_layers=1", "arch.H_cycles=2", "arch.L_cycles=2",
		"arch.halt_max_steps=4", "arch.puzzle_emb_len=1", "arch.puzzle_emb_ndim=32",
		"global_batch_size=16", "lr=1e-3", "lr_warmup_steps=10", "puzzle_emb_lr=1e-2",
		"weight_decay=0.1", "puzzle_emb_weight_decay=0.1", "workers=2",
	}
	return append(o, extra...)
}

func TestTrainSmoke(t *testing.T) {
	data := mazeDataset(t, 64, 16, 7)
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
}

// TestExactResume trains straight through, and separately stops mid-pass,
// resumes from the checkpoint and finishes: parameters, optimiser state,
// carry, and every metrics record must be bit-identical.
func TestExactResume(t *testing.T) {
	data := mazeDataset(t, 96, 16, 7)
	ctx := context.Background()
	extra := []string{"epochs=6", "eval_interval=2", "ema=True", "keep_checkpoints=2"}
	straight := filepath.Join(t.TempDir(), "straight")
	tr, err := New(ctx, tinyConfig(t, data, straight, extra...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := tr.TotalSteps()
	if err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	tr.Close()

	resumed := filepath.Join(t.TempDir(), "resumed")
	stops := []int{total/3 + 1, 2*total/3 + 2}
	tr, err = New(ctx, tinyConfig(t, data, resumed, extra...), Options{StopAtStep: stops[0]})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v, want ErrStopped", err)
	}
	tr.Close()
	for i := 1; i <= len(stops); i++ {
		opts := Options{}
		if i < len(stops) {
			opts.StopAtStep = stops[i]
		}
		tr, err = Resume(ctx, resumed, opts)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Step() != stops[i-1] {
			t.Fatalf("resumed at step %d, want %d", tr.Step(), stops[i-1])
		}
		err = tr.Run(ctx)
		tr.Close()
		if i < len(stops) && !errors.Is(err, ErrStopped) || i == len(stops) && err != nil {
			t.Fatalf("resume %d: %v", i, err)
		}
	}
	final := "step_" + strconv.Itoa(total)
	sameFiles(t, straight, resumed, "metrics.jsonl", final+"/"+WeightsFile, final+"/"+StateFile)
	steps, err := checkpointSteps(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[1] != total {
		t.Errorf("checkpoints kept %v, want the last 2 ending at %d", steps, total)
	}
}

// sameFiles fails unless every file (a path inside both runs) is the same
// in the uninterrupted run straight and the resumed run resumed.
func sameFiles(t *testing.T, straight, resumed string, files ...string) {
	t.Helper()
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(straight, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(resumed, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the resumed run (%d vs %d bytes)", f, len(a), len(b))
		}
	}
}

func TestResumeErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Resume(ctx, filepath.Join(t.TempDir(), "nope"), Options{}); err == nil {
		t.Error("resuming a missing directory succeeded")
	}
	data := mazeDataset(t, 32, 8, 7)
	run := filepath.Join(t.TempDir(), "run")
	tr, err := New(ctx, tinyConfig(t, data, run, "epochs=2", "eval_interval=1"), Options{StopAtStep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(ctx); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	tr.Close()
	ck, err := FindCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluating on a dataset of another shape is refused before any step.
	other := filepath.Join(t.TempDir(), "maze7")
	if _, err := pipeline.BuildMaze(ctx, pipeline.MazeConfig{Generate: 16, GenerateTest: 16, Size: 7, Seed: 1}, pipeline.Output{Dir: other, Workers: 2, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := EvalCheckpoint(ctx, run, []string{other}, nil, EvalJob{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("seq_len 81")) {
		t.Errorf("evaluating a seq_len 49 dataset: %v", err)
	}
	if r, err := EvalCheckpoint(ctx, run, nil, nil, EvalJob{}); err != nil || r.Metrics["all/count"] != 8 {
		t.Errorf("evaluating the checkpoint: %v, %v", r, err)
	}
	// A manifest naming a file outside the checkpoint is refused.
	manifest := filepath.Join(ck, ManifestFile)
	mb, _ := os.ReadFile(manifest)
	var man map[string]any
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	files := man["files"].(map[string]any)
	files["../"+ConfigFile] = files[ConfigFile]
	bad, _ := json.Marshal(man)
	os.WriteFile(manifest, bad, 0o644)
	if _, err := Resume(ctx, run, Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("not a checkpoint file")) {
		t.Errorf("manifest naming ../%s: %v", ConfigFile, err)
	}
	os.WriteFile(manifest, mb, 0o644)
	state := filepath.Join(ck, StateFile)
	data2, _ := os.ReadFile(state)
	os.WriteFile(state, data2[:len(data2)/2], 0o644)
	if _, err := Resume(ctx, run, Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("corrupt or truncated")) {
		t.Errorf("truncated state: %v", err)
	}
	// A run directory that exists already is not silently overwritten.
	if _, err := New(ctx, tinyConfig(t, data, run, "epochs=2", "eval_interval=1"), Options{}); err == nil {
		t.Error("New over an existing run succeeded")
	}
}
