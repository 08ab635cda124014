package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/pipeline"
)

type generateCmd struct {
	Sudoku generateSudokuCmd `cmd:"" help:"Generate Sudoku puzzles with unique solutions as reference CSV."`
	Maze   generateMazeCmd   `cmd:"" help:"Generate mazes with their shortest path as reference CSV."`
}

type generateFlags struct {
	Count   int    `help:"Number of puzzles." required:"" placeholder:"N"`
	Seed    int64  `help:"Seed; puzzle i depends only on the seed and i." default:"0"`
	Out     string `help:"CSV file to write (default: stdout)." short:"o" type:"path" placeholder:"FILE"`
	Workers int    `help:"Worker goroutines (0: all cores). Output does not depend on it." default:"0"`
}

// write sends the header and rows to --out (atomically) or stdout.
func (f generateFlags) write(records [][]string) error {
	if f.Out == "" {
		return writeCSV(os.Stdout, records)
	}
	return atomicdir.ReplaceFile(f.Out, func(w io.Writer) error { return writeCSV(w, records) })
}

func writeCSV(w io.Writer, records [][]string) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"source", "question", "answer", "rating"})
	cw.WriteAll(records)
	return cw.Error()
}

type generateSudokuCmd struct {
	generateFlags
	MinRating int `help:"Minimum difficulty: backtracks of a most-constrained-first solver." default:"0"`
}

func (c *generateSudokuCmd) Run(g *globals) error {
	workers := pipeline.Output{Workers: c.Workers}.WorkerCount()
	ps, err := pipeline.GenerateSudokus(g.ctx, pipeline.SudokuGenConfig{Count: c.Count, MinRating: c.MinRating, Seed: c.Seed, Stream: "train"}, workers, g.Quiet)
	if err != nil {
		return err
	}
	records := make([][]string, len(ps))
	for i, p := range ps {
		records[i] = p.CSVRecord(fmt.Sprintf("trm-sudoku-%d-%d", c.Seed, i))
	}
	return c.write(records)
}

type generateMazeCmd struct {
	generateFlags
	Size    int `help:"Side of the square maze." default:"30"`
	MinPath int `help:"Minimum shortest-path length in cells (0: 110 scaled by area)." default:"0"`
}

func (c *generateMazeCmd) Run(g *globals) error {
	workers := pipeline.Output{Workers: c.Workers}.WorkerCount()
	ms, err := pipeline.GenerateMazes(g.ctx, pipeline.MazeGenConfig{Count: c.Count, Size: c.Size, MinPath: c.MinPath, Seed: c.Seed, Stream: "train"}, workers, g.Quiet)
	if err != nil {
		return err
	}
	records := make([][]string, len(ms))
	for i, m := range ms {
		records[i] = m.CSVRecord(fmt.Sprintf("trm-maze-%d-%d", c.Seed, i))
	}
	return c.write(records)
}
