package pipeline

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
)

// writeGeneratedSudokuCSVs writes train.csv (n puzzles) and test.csv (n/10)
// into dir, as `trm generate sudoku` would.
func writeGeneratedSudokuCSVs(tb testing.TB, dir string, n int) {
	tb.Helper()
	for split, count := range map[string]int{"train": n, "test": max(1, n/10)} {
		ps, err := GenerateSudokus(context.Background(), SudokuGenConfig{Count: count, Seed: 1, Stream: split}, 2, true)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, split+".csv"))
		if err != nil {
			tb.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.Write(csvHeader)
		for _, p := range ps {
			w.Write(p.CSVRecord("gen"))
		}
		w.Flush()
		f.Close()
	}
}

// BenchmarkBuildSudoku1000x1000 is the benchmark: 1,000 puzzles with
// 1,000 shuffles each (1,001,000 training rows), read from CSV.
// go test ./pipeline -run XXX -bench BuildSudoku -benchtime 3x
func BenchmarkBuildSudoku1000x1000(b *testing.B) {
	in := b.TempDir()
	writeGeneratedSudokuCSVs(b, in, 1000)
	out := filepath.Join(b.TempDir(), "ds")
	b.ResetTimer()
	var rows int64
	for range b.N {
		rep, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Aug: 1000, Seed: 1}, Output{Dir: out, Force: true, Quiet: true})
		if err != nil {
			b.Fatal(err)
		}
		rows = rep.Splits["train"].Rows + rep.Splits["test"].Rows
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
