package train

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tinyrecursion/trm/loader"
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
