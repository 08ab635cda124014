package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/tinyrecursion/trm/internal/procstat"
	"github.com/tinyrecursion/trm/pipeline"
)

type benchPipelineCmd struct {
	Puzzles  int    `help:"Training puzzles." default:"1000"`
	TestRows int    `help:"Test rows. The reference's run builds the full sudoku-extreme test set, 422,786 rows, beside its 1,000 training puzzles." default:"422786"`
	Aug      int    `help:"Shuffles per training puzzle." default:"1000"`
	Workers  int    `help:"Worker goroutines (0: all cores)." default:"0"`
	Rounds   int    `help:"Timed builds." default:"3"`
	Dir      string `help:"Scratch directory (default: a temporary directory, removed afterwards)." type:"path"`
}

// referenceSudokuSeconds is the reference Python builder's wall time for
// 1,000 x 1,000 on a 2-core machine (67-72 s, 3.4 GiB peak RSS), recorded
// when this benchmark was specified; it cannot run here (it downloads its
// input from the Hugging Face hub).
const referenceSudokuSeconds = 67.0

func (c *benchPipelineCmd) Run(g *globals) error {
	dir := c.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trm-bench-pipeline-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	workers := workerCount(c.Workers)
	fmt.Printf("sudoku build: %d puzzles x %d augmentations + %d test rows, %d workers, %d rounds\n", c.Puzzles, c.Aug, c.TestRows, workers, c.Rounds)
	rounds, err := pipeline.BenchSudokuBuild(g.ctx, pipeline.BuildBenchConfig{Puzzles: c.Puzzles, TestRows: c.TestRows, Aug: c.Aug, Workers: workers, Rounds: max(1, c.Rounds), Dir: dir})
	if err != nil {
		return err
	}
	for i, r := range rounds {
		fmt.Printf("round %d: %d rows in %.2fs wall, %.2fs CPU: %.0f rows/s; raw write of the same bytes %.2fs (build/raw %.1fx)\n",
			i+1, r.Rows, r.Wall.Seconds(), r.CPU.Seconds(), float64(r.Rows)/r.Wall.Seconds(), r.Baseline.Seconds(), r.Wall.Seconds()/r.Baseline.Seconds())
	}
	best := slices.MinFunc(rounds, func(a, b pipeline.BuildBenchRound) int { return int(a.Wall - b.Wall) })
	fmt.Printf("best: %.2fs wall (%.0f rows/s), peak RSS %.0f MiB\n", best.Wall.Seconds(), float64(best.Rows)/best.Wall.Seconds(), float64(procstat.PeakRSS())/(1<<20))
	if c.Puzzles == 1000 && c.Aug == 1000 {
		fmt.Printf("vs the reference builder's recorded %.0f s: %.1fx faster\n", referenceSudokuSeconds, referenceSudokuSeconds/best.Wall.Seconds())
	}
	return nil
}
