package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkBuildSudokuCompat measures the README configuration's shape
// (1,000 puzzles subsampled, 1,000 shuffles each) in numpy compat mode,
// where one goroutine draws every shuffle from the global stream, against
// the default mode (per-group streams drawn on the workers) in the same
// run.
// go test ./pipeline -run XXX -bench BuildSudokuCompat -benchtime 2x
func BenchmarkBuildSudokuCompat(b *testing.B) {
	in := b.TempDir()
	writeGeneratedSudokuCSVs(b, in, 2000)
	out := filepath.Join(b.TempDir(), "ds")
	build := func(compat string) (int64, time.Duration) {
		start := time.Now()
		rep, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Subsample: 1000, Aug: 1000, Seed: 1, Compat: compat}, Output{Dir: out, Force: true, Quiet: true})
		if err != nil {
			b.Fatal(err)
		}
		return rep.Splits["train"].Rows + rep.Splits["test"].Rows, time.Since(start)
	}
	b.ResetTimer()
	var rows int64
	var numpy, own time.Duration
	for range b.N {
		n, d := build(CompatNumpy)
		numpy += d
		rows, d = build("")
		own += d
		if n != rows {
			b.Fatalf("compat build has %d rows, default %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/numpy.Seconds(), "compat-rows/s")
	b.ReportMetric(float64(rows)*float64(b.N)/own.Seconds(), "default-rows/s")
	b.ReportMetric(own.Seconds()/numpy.Seconds(), "compat/default-speed")
}
