package main

import "github.com/tinyrecursion/trm/pipeline"

// buildCmd groups the dataset builders; each lives in its own file.
type buildCmd struct {
	Sudoku buildSudokuCmd `cmd:"" help:"Build the Sudoku dataset from train.csv/test.csv or generated puzzles."`
	Maze   buildMazeCmd   `cmd:"" help:"Build the Maze dataset from train.csv/test.csv or generated mazes."`
	Arc    buildArcCmd    `cmd:"" help:"Build the ARC-AGI dataset from Kaggle-format JSON, with augmented variants per task."`
}

// outputFlags are the flags every builder shares.
type outputFlags struct {
	Out         string `help:"Dataset directory to create." required:"" type:"path" placeholder:"DIR"`
	Force       bool   `help:"Replace an existing dataset at --out."`
	Workers     int    `help:"Worker goroutines (0: all cores). Output bytes do not depend on it." default:"0"`
	ShardMB     int    `name:"shard-mb" help:"Target token megabytes (inputs+labels, uncompressed) per Parquet shard." default:"64"`
	Compression string `help:"Parquet codec: zstd (level 1), snappy, gzip, lz4, brotli or none." default:"zstd" enum:"zstd,snappy,gzip,lz4,brotli,none"`
}

func (o outputFlags) output(g *globals) pipeline.Output {
	return pipeline.Output{Dir: o.Out, Force: o.Force, Workers: o.Workers, ShardMB: o.ShardMB, Compression: o.Compression, Quiet: g.Quiet}
}

// workerCount resolves a --workers value of 0 to the number of cores.
func workerCount(n int) int { return pipeline.Output{Workers: n}.WorkerCount() }
