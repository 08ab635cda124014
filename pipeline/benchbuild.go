package pipeline

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyrecursion/trm/internal/procstat"
)

// BuildBenchConfig configures BenchSudokuBuild.
type BuildBenchConfig struct {
	Puzzles  int // training puzzles
	TestRows int // test rows, cycling through up to 1,000 generated puzzles
	Aug      int
	Workers  int
	Rounds   int
	Dir      string // scratch directory for the CSVs and the datasets
}

// BuildBenchRound is one timed build.
type BuildBenchRound struct {
	Rows     int64
	Wall     time.Duration
	CPU      time.Duration // user + system time of the whole process
	Baseline time.Duration // writing the same token bytes raw, with fsync
}

// BenchSudokuBuild times the Sudoku builder on generated CSVs (generation
// is not timed) and, in the same rounds, a baseline that writes the same
// amount of raw token bytes to disk: the floor any builder pays for its
// output.
func BenchSudokuBuild(ctx context.Context, cfg BuildBenchConfig) ([]BuildBenchRound, error) {
	in := filepath.Join(cfg.Dir, "csv")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return nil, err
	}
	for split, rows := range map[string]int{"train": cfg.Puzzles, "test": max(1, cfg.TestRows)} {
		// Generation is slow next to building, so a large test split
		// repeats its puzzles: the builder's cost per row is the same.
		n := rows
		if split == "test" {
			n = min(rows, 1000)
		}
		ps, err := GenerateSudokus(ctx, SudokuGenConfig{Count: n, Seed: 1, Stream: split}, cfg.Workers, true)
		if err != nil {
			return nil, err
		}
		f, err := os.Create(filepath.Join(in, split+".csv"))
		if err != nil {
			return nil, err
		}
		w := csv.NewWriter(f)
		w.Write(csvHeader)
		for i := range rows {
			w.Write(ps[i%n].CSVRecord(fmt.Sprint(i)))
		}
		w.Flush()
		if err := w.Error(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	var rounds []BuildBenchRound
	for range cfg.Rounds {
		cpu0 := procstat.CPUTime()
		start := time.Now()
		rep, err := BuildSudoku(ctx, SudokuConfig{Input: in, Aug: cfg.Aug, Seed: 1},
			Output{Dir: filepath.Join(cfg.Dir, "ds"), Force: true, Workers: cfg.Workers, Quiet: true})
		if err != nil {
			return nil, err
		}
		r := BuildBenchRound{Wall: time.Since(start), CPU: procstat.CPUTime() - cpu0}
		for _, st := range rep.Splits {
			r.Rows += st.Rows
		}
		if r.Baseline, err = rawWrite(filepath.Join(cfg.Dir, "raw"), r.Rows*2*sudokuCells); err != nil {
			return nil, err
		}
		rounds = append(rounds, r)
	}
	return rounds, os.RemoveAll(filepath.Join(cfg.Dir, "ds"))
}

// rawWrite writes n bytes to path in 1 MiB chunks and syncs.
func rawWrite(path string, n int64) (time.Duration, error) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i % 11)
	}
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	for written := int64(0); written < n; written += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n-written)]); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	return time.Since(start), f.Close()
}
