package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/tinyrecursion/trm/kernels/cuda"
	"github.com/tinyrecursion/trm/loader"
)

type benchLoaderCmd struct {
	Data       []string `help:"Datasets to measure (default: generate an ARC-shaped and a Sudoku-shaped one)." type:"existingdir"`
	Split      string   `help:"Split to read." default:"train"`
	Batch      int      `help:"Global batch size." default:"768"`
	Batches    int      `help:"Batches timed per round and measurement." default:"300"`
	Rounds     int      `help:"Interleaved rounds; the best of each measurement is reported." default:"5"`
	Workers    int      `help:"Gathering goroutines (and baseline goroutines)." default:"2"`
	Prefetch   int      `help:"Batches assembled ahead." default:"4"`
	ARCRows    int      `name:"arc-rows" help:"Examples in the generated ARC-shaped dataset (900-token rows)." default:"50000"`
	SudokuRows int      `help:"Examples in the generated Sudoku-shaped dataset (81-token rows)." default:"500000"`
	GenDir     string   `help:"Keep generated datasets here and reuse them (default: a temporary directory, removed afterwards)."`
	GPU        bool     `name:"gpu" help:"Also time batches delivered to GPU 0: gathered into pinned host memory, each copied to the device before the next (needs an NVIDIA GPU; see trm gpu check)."`
}

func (c *benchLoaderCmd) Run(g *globals) error {
	var device *loader.BenchDevice
	if c.GPU {
		gc, err := cuda.Open(cuda.Options{})
		if err != nil {
			return fmt.Errorf("--gpu: %w", err)
		}
		defer gc.Close()
		up, err := gc.NewUploader()
		if err != nil {
			return fmt.Errorf("--gpu: %w", err)
		}
		defer up.Close()
		device = &loader.BenchDevice{Name: "cache -> GPU", Allocator: gc.PinnedAllocator(), Upload: up.Upload}
		fmt.Printf("GPU: %s (cache -> GPU: batches gathered into pinned memory, each copied to the device and waited for; copy only: the copies alone)\n", gc.Props.Name)
	}
	dirs := c.Data
	names := c.Data
	if len(dirs) == 0 {
		gen := c.GenDir
		if gen == "" {
			tmp, err := os.MkdirTemp("", "trm-bench-loader-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			gen = tmp
		}
		if !g.Quiet {
			fmt.Fprintf(os.Stderr, "generating %d ARC-shaped and %d Sudoku-shaped examples in %s\n", c.ARCRows, c.SudokuRows, gen)
		}
		ds, err := loader.BenchDatasets(gen, c.ARCRows, c.SudokuRows)
		if err != nil {
			return err
		}
		dirs = []string{ds["arc"], ds["sudoku"]}
		names = []string{fmt.Sprintf("arc (%d rows)", c.ARCRows), fmt.Sprintf("sudoku (%d rows)", c.SudokuRows)}
	}
	fmt.Printf("global batch %d, %d gatherers, %d interleaved rounds of %d batches; best round of each (wall) and least CPU per batch (process CPU time)\n", c.Batch, c.Workers, c.Rounds, c.Batches)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dataset\tsource\topen s\topen GB/s (file)\topen GB/s (tokens)\tbatches/s\tGB/s\tvs baseline\tCPU µs/batch\tCPU vs baseline\t")
	for i, dir := range dirs {
		res, err := loader.Bench(g.ctx, dir, loader.BenchConfig{Split: c.Split, GlobalBatch: c.Batch, Batches: c.Batches,
			Rounds: c.Rounds, Workers: c.Workers, Prefetch: c.Prefetch, Device: device})
		if err != nil {
			return err
		}
		name := names[i]
		if len(c.Data) > 0 {
			name = filepath.Base(filepath.Clean(dir))
		}
		for _, r := range res {
			open := func(v float64) string {
				if r.OpenSeconds == 0 { // not a source: baseline, gather or sampler alone
					return "-"
				}
				return fmt.Sprintf("%.3f", v)
			}
			moved := func(format string, v float64) string {
				if r.GBps == 0 { // the sampler alone moves no bytes
					return "-"
				}
				return fmt.Sprintf(format, v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%.0f\t%s\t\n", name, r.Name, open(r.OpenSeconds), open(r.OpenGBps), open(r.OpenTokenGBps),
				r.BatchesPerSec, moved("%.2f", r.GBps), moved("%.0f%%", 100*r.Ratio), float64(r.CPUPerBatch.Nanoseconds())/1e3, moved("%.0f%%", 100*r.CPURatio))
		}
	}
	return tw.Flush()
}
