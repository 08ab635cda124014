// Command trm builds, inspects, loads and trains on Tiny Recursion Model
// datasets. This file only wires the commands together; every command's
// logic lives in the packages named in DESIGN.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/tinyrecursion/trm/internal/version"
	"github.com/tinyrecursion/trm/train"
)

// cli lists every command. Each command type lives in its own file and has a
// Run(*globals) error method.
type cli struct {
	globals

	Build    buildCmd    `cmd:"" help:"Build a dataset (sudoku, maze, arc) as sharded Parquet."`
	Generate generateCmd `cmd:"" help:"Generate Sudoku or Maze puzzles as reference CSV."`
	Inspect  inspectCmd  `cmd:"" help:"Summarise a dataset: splits, rows, puzzles, groups, shards, sizes."`
	Verify   verifyCmd   `cmd:"" help:"Re-hash every shard and check the format's invariants."`
	Show     showCmd     `cmd:"" help:"Draw one example's input and label (and a checkpoint's prediction), in the terminal or as PNG."`
	Export   exportCmd   `cmd:"" help:"Convert a dataset to the reference's NumPy layout or to Arrow IPC tensors (npy, arrow)."`
	Import   importCmd   `cmd:"" help:"Convert a dataset built by the reference (npy) into a trm dataset."`
	Cache    cacheCmd    `cmd:"" help:"Build or refresh a dataset's Arrow IPC cache for zero-copy loading."`
	Train    trainCmd    `cmd:"" help:"Train a TRM with the reference's config and overrides (key=value ...), on the CPU or, with device=cuda, the GPU."`
	Eval     evalCmd     `cmd:"" help:"Evaluate a checkpoint on a dataset's test split."`
	Plot     plotCmd     `cmd:"" help:"Draw a run's training and evaluation curves as PNG."`
	Bench    benchCmd    `cmd:"" help:"Throughput benchmarks (pipeline, loader, train) against baselines measured in the same run."`
	Gpu      gpuCmd      `cmd:"" help:"CUDA GPU tools (check)."`

	Version kong.VersionFlag `help:"Print the version and exit."`
}

// globals are the flags every command sees, plus the context that Ctrl-C
// cancels.
type globals struct {
	Quiet bool `help:"No progress bars." short:"q"`

	ctx context.Context `kong:"-"`
}

func main() {
	if len(os.Args) == 1 {
		// A bare `trm` shows every command rather than a usage error.
		os.Args = append(os.Args, "--help")
	}
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("trm"),
		kong.Description("Tiny Recursion Models: build augmented puzzle datasets as sharded Parquet, load, train and evaluate."),
		kong.ShortUsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": version.String() + " " + runtime.Version(), "defaults": strings.Join(train.BenchDefaults, " ")},
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.globals.ctx = ctx
	if err := kctx.Run(&c.globals); err != nil {
		stop()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Commands remove what they had not finished writing.
			fmt.Fprintln(os.Stderr, "trm: interrupted")
			os.Exit(exitInterrupted)
		}
		fmt.Fprintln(os.Stderr, "trm:", err)
		os.Exit(1)
	}
}

// exitInterrupted is the shell's status for a command stopped by Ctrl-C
// (128 + SIGINT), so that scripts tell an interruption from a failure.
const exitInterrupted = 130
