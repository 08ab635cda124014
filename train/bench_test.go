package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
)

// BenchmarkTrainSudoku times the trainer (loader, ACT forward, backward,
// both optimisers, EMA, metrics) on the small Sudoku configuration: hidden
// 128, 4 heads, 2 layers, H_cycles 3, L_cycles 6, batch 64, 81 tokens; then
// one evaluation of the test split. It reports training and evaluation
// examples/s and the time one evaluated example costs in training examples
// (an evaluated row runs halt_max_steps forward steps, a trained row one
// forward and backward step).
func BenchmarkTrainSudoku(b *testing.B) {
	dir := b.TempDir()
	ds := filepath.Join(dir, "sudoku")
	if err := loader.GenerateBenchDataset(ds, loader.BenchSudoku, 64*8, 1); err != nil {
		b.Fatal(err)
	}
	// The generated dataset has only a train split: evaluate on it too.
	cfg, err := LoadConfig("", []string{
		"data_paths=[" + ds + "]", "evaluators=[]", "checkpoint_path=" + filepath.Join(dir, "run"),
		"arch.hidden_size=128", "arch.num_heads=4", "arch.L_layers=2", "arch.H_cycles=3", "arch.L_cycles=6",
		"global_batch_size=64", "epochs=1000", "eval_interval=1000", "ema=True", "keep_checkpoints=1",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tr, err := New(ctx, cfg, Options{StopAtStep: b.N})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	b.ResetTimer()
	if err := tr.Run(ctx); !errors.Is(err, ErrStopped) {
		b.Fatal(err)
	}
	b.StopTimer()
	trainRate := float64(b.N*cfg.GlobalBatchSize) / tr.TrainTime.Seconds()
	b.ReportMetric(trainRate, "train_examples/s")
	tr.evalSrc = tr.trainSrc
	start := time.Now()
	if _, err := tr.EvaluateNow(ctx); err != nil {
		b.Fatal(err)
	}
	var rows int64
	for _, p := range tr.trainSrc.Parts {
		rows += p.Rows()
	}
	evalRate := float64(rows) / time.Since(start).Seconds()
	b.ReportMetric(evalRate, "eval_examples/s")
	b.ReportMetric(trainRate/evalRate, "eval/train_cost_per_example")
	b.Logf("%d train steps; eval of %s rows", b.N, strconv.FormatInt(rows, 10))
}

// TestBench runs the training benchmark on a tiny model: every
// measurement is reported for each variant, in order, with the baseline at
// 100%; a PyTorch result line is read from the script's output, and
// refused when its parameter count is not the Go model's; a missing script
// is reported, not fatal; settings the variants own are refused.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	tiny := []string{"arch.hidden_size=16", "arch.num_heads=2", "arch.L_layers=1", "arch.H_cycles=2", "arch.L_cycles=1",
		"arch.halt_max_steps=2", "global_batch_size=8"}
	tc, err := LoadConfig("", append(append([]string{}, BenchDefaults...), tiny...))
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New32(1)
	defer be.Close()
	attention, err := model.New(tc.ModelConfig(81, 11, 2), be, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in for the PyTorch script prints the attention model's
	// parameter count whatever the variant, so mlp_t's line must be refused.
	fake := filepath.Join(dir, "fake_torch.sh")
	line := fmt.Sprintf(`{"impl":"pytorch","torch":"9.9","blas":"libblas.so.3","threads":2,"ms_per_step":250,"cpu_s_per_step":0.5,"params":%d}`, len(attention.Params))
	if err := os.WriteFile(fake, []byte("echo '"+line+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := BenchConfig{Dir: dir, Variants: []string{"attention", "mlp_t"}, Overrides: tiny, Steps: 2, Rounds: 2, Torch: fake, Python: "sh"}
	mc, res, err := Bench(context.Background(), cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if mc.HiddenSize != 16 || mc.BatchSize != 8 || mc.SeqLen != 81 {
		t.Fatalf("measured model: hidden %d, batch %d, seq_len %d; want 16, 8, 81", mc.HiddenSize, mc.BatchSize, mc.SeqLen)
	}
	torchRow := "PyTorch 9.9 (libblas.so.3), 2 threads"
	want := []string{benchTrainer, benchModel, torchRow, benchEval, "GEMM 776x512x16"}
	if len(res) != 2*len(want) {
		t.Fatalf("%d results, want %d: %+v", len(res), 2*len(want), res)
	}
	for i, r := range res {
		variant, name := cfg.Variants[i/len(want)], want[i%len(want)]
		if variant == "mlp_t" && name == torchRow {
			if r.Name != benchTorch || !strings.Contains(r.Skipped, fmt.Sprintf("%d parameters", len(attention.Params))) {
				t.Errorf("mlp_t with the attention model's parameter count: %+v, want a skipped row saying why", r)
			}
			continue
		}
		if r.Variant != variant || r.Name != name || r.Skipped != "" {
			t.Errorf("result %d: %s, %s (skipped %q); want %s, %s", i, r.Variant, r.Name, r.Skipped, variant, name)
		}
		if !(r.StepSeconds > 0) || !(r.GFLOPs > 0) || !(r.Ratio > 0) {
			t.Errorf("%s, %s: %.3g s/step, %.3g GFLOP/s, ratio %.3g: want all positive", r.Variant, r.Name, r.StepSeconds, r.GFLOPs, r.Ratio)
		}
		if r.Name == benchModel && r.Ratio != 1 {
			t.Errorf("%s baseline ratio %v, want 1", r.Variant, r.Ratio)
		}
		if r.Name == torchRow && (r.StepSeconds != 0.25 || r.ExamplesPerSec != 32 || r.CPUSeconds != 0.5) {
			t.Errorf("PyTorch line read as %.3g s/step, %.3g examples/s, %.3g CPU s; want 0.25, 32, 0.5", r.StepSeconds, r.ExamplesPerSec, r.CPUSeconds)
		}
	}

	cfg.Variants, cfg.Rounds, cfg.Steps, cfg.Torch = []string{"attention"}, 1, 1, filepath.Join(dir, "missing.py")
	cfg.Dir = t.TempDir()
	if _, res, err = Bench(context.Background(), cfg, t.Logf); err != nil {
		t.Fatal(err)
	}
	if r := res[2]; r.Name != benchTorch || !strings.Contains(r.Skipped, "missing.py not found") {
		t.Errorf("missing script: %+v, want a skipped PyTorch row naming the script", r)
	}

	cfg.Overrides = append(tiny, "arch.mlp_t=True")
	if _, _, err := Bench(context.Background(), cfg, t.Logf); err == nil || !strings.Contains(err.Error(), "arch.mlp_t") {
		t.Errorf("override of the variant's arch.mlp_t: error %v, want one naming it", err)
	}
}
