package main

import (
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/tinyrecursion/trm/pipeline"
)

type buildSudokuCmd struct {
	Input         string `arg:"" optional:"" type:"existingdir" help:"Directory with train.csv and test.csv (header source,question,answer,rating; 81 characters, '.' for blanks)."`
	Generate      int    `help:"Instead of reading CSVs, generate N training puzzles (and --generate-test test puzzles) with unique solutions." placeholder:"N"`
	GenerateTest  int    `help:"Test puzzles to generate with --generate (0: as many as --generate)." placeholder:"N"`
	MinRating     int    `help:"With --generate: minimum difficulty (solver backtracks)." default:"0"`
	Subsample     int    `help:"Keep N random training puzzles (the reference's --subsample-size); 0 keeps all." placeholder:"N"`
	MinDifficulty *int   `help:"Keep rows whose rating is at least this (the reference's --min-difficulty)."`
	Aug           int    `help:"Random validity-preserving shuffles per training puzzle (the reference's --num-aug)." default:"0"`
	Seed          int64  `help:"Seed of every random choice; same seed, same bytes. With --compat numpy: numpy's seed, 0..2^32-1." default:"0"`
	SkipInvalid   bool   `help:"Skip malformed rows (and report how many) instead of stopping."`
	Compat        string `help:"numpy: reproduce the reference builder's arrays byte for byte (its single global numpy stream: the subsample, then every shuffle). The reference never seeds numpy, so its own runs are not reproducible; trm matches it run after numpy.random.seed(--seed). CSV input only." enum:",numpy" default:""`
	outputFlags
}

func (c *buildSudokuCmd) Run(g *globals) error {
	start := time.Now()
	rep, err := pipeline.BuildSudoku(g.ctx, pipeline.SudokuConfig{
		Input: c.Input, Generate: c.Generate, GenerateTest: c.GenerateTest, MinRating: c.MinRating,
		Subsample: c.Subsample, MinDifficulty: c.MinDifficulty, Aug: c.Aug, Seed: c.Seed, SkipInvalid: c.SkipInvalid,
		Compat: c.Compat,
	}, c.output(g))
	if err != nil {
		return err
	}
	printReport(c.Out, rep, time.Since(start))
	return nil
}

type buildMazeCmd struct {
	Input        string `arg:"" optional:"" type:"existingdir" help:"Directory with train.csv and test.csv (header source,question,answer,rating; n*n characters of \"# SGo\")."`
	Generate     int    `help:"Instead of reading CSVs, generate N training mazes (and --generate-test test mazes)." placeholder:"N"`
	GenerateTest int    `help:"Test mazes to generate with --generate (0: as many as --generate)." placeholder:"N"`
	Size         int    `help:"With --generate: side of the square maze." default:"30"`
	MinPath      int    `help:"With --generate: minimum shortest-path length in cells (0: 110 scaled by area)." default:"0"`
	Subsample    int    `help:"Keep N random training mazes (the reference's --subsample-size); 0 keeps all." placeholder:"N"`
	Aug          bool   `help:"Add the 7 other dihedral images of each training maze. The reference's README promises 8 augments but its default is off; so is ours."`
	Seed         int64  `help:"Seed of every random choice; same seed, same bytes. With --compat numpy: numpy's seed, 0..2^32-1." default:"0"`
	SkipInvalid  bool   `help:"Skip malformed rows (and report how many) instead of stopping."`
	Compat       string `help:"numpy: reproduce the reference builder's arrays byte for byte (its single global numpy stream, which only --subsample draws from). The reference never seeds numpy, so its own runs are not reproducible; trm matches it run after numpy.random.seed(--seed). CSV input only." enum:",numpy" default:""`
	outputFlags
}

func (c *buildMazeCmd) Run(g *globals) error {
	start := time.Now()
	rep, err := pipeline.BuildMaze(g.ctx, pipeline.MazeConfig{
		Input: c.Input, Generate: c.Generate, GenerateTest: c.GenerateTest, Size: c.Size, MinPath: c.MinPath,
		Subsample: c.Subsample, Aug: c.Aug, Seed: c.Seed, SkipInvalid: c.SkipInvalid, Compat: c.Compat,
	}, c.output(g))
	if err != nil {
		return err
	}
	printReport(c.Out, rep, time.Since(start))
	return nil
}

// printReport tells what was built, on stdout.
func printReport(dir string, rep *pipeline.BuildReport, took time.Duration) {
	var names []string
	var rows int64
	for name, st := range rep.Splits {
		names = append(names, name)
		rows += st.Rows
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // train before test
	fmt.Printf("built %s in %.2fs (%.0f rows/s)\n", dir, took.Seconds(), float64(rows)/took.Seconds())
	for _, name := range names {
		st := rep.Splits[name]
		fmt.Printf("  %-5s %10d examples %9d puzzles %7d groups\n", name, st.Rows, st.Puzzles, st.Groups)
	}
	if n := rep.Skipped(); n > 0 {
		fmt.Fprintf(os.Stderr, "skipped %d invalid rows\n", n)
	}
}
