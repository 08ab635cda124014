package main

import (
	"fmt"
	"os"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/interop"
)

// exportCmd groups the conversions of a dataset to other layouts.
type exportCmd struct {
	Npy   exportNPYCmd   `cmd:"" name:"npy" help:"Write the reference's NumPy layout (<split>/all__*.npy, dataset.json, identifiers.json, test_puzzles.json), byte for byte as the reference builders write it."`
	Arrow exportArrowCmd `cmd:"" help:"Write one Arrow IPC file per split (<split>.arrow) with inputs/labels as arrow.fixed_shape_tensor [H,W] uint8."`
}

type exportNPYCmd struct {
	Dataset string `arg:"" type:"existingdir" help:"trm dataset directory."`
	Out     string `arg:"" type:"path" help:"Directory to create."`
	Dtype   string `help:"Element type of inputs/labels: auto (as the reference: uint8, int64 for an augmented Sudoku train split), uint8 or int64." enum:"auto,uint8,int64" default:"auto"`
	Force   bool   `help:"Replace an existing export at OUT."`
}

func (c *exportNPYCmd) Run(g *globals) error {
	ds, err := dataset.Open(c.Dataset)
	if err != nil {
		return err
	}
	bar := progress.New(totalRows(ds), "export npy", "rows", g.Quiet)
	reps, err := interop.ExportNPY(g.ctx, ds, c.Out, interop.NPYExportOptions{Dtype: c.Dtype, Force: c.Force, Progress: bar.Add})
	bar.Finish()
	if err != nil {
		return err
	}
	printSplits(g, c.Out, reps)
	return nil
}

type exportArrowCmd struct {
	Dataset string `arg:"" type:"existingdir" help:"trm dataset directory."`
	Out     string `arg:"" type:"path" help:"Directory to create."`
	Force   bool   `help:"Replace an existing export at OUT."`
}

func (c *exportArrowCmd) Run(g *globals) error {
	ds, err := dataset.Open(c.Dataset)
	if err != nil {
		return err
	}
	bar := progress.New(totalRows(ds), "export arrow", "rows", g.Quiet)
	reps, err := interop.ExportArrow(g.ctx, ds, c.Out, interop.ArrowExportOptions{Force: c.Force, Progress: bar.Add})
	bar.Finish()
	if err != nil {
		return err
	}
	printSplits(g, c.Out, reps)
	return nil
}

func totalRows(ds *dataset.Dataset) int64 {
	var n int64
	for _, s := range ds.Manifest.Splits {
		n += s.Rows
	}
	return n
}

// printSplits reports what a conversion wrote, one line per split.
func printSplits(g *globals, out string, reps []interop.SplitReport) {
	if g.Quiet {
		return
	}
	for _, r := range reps {
		fmt.Fprintf(os.Stdout, "%s: split %s, %d rows, tokens %s\n", out, r.Name, r.Rows, r.Dtype)
	}
}
