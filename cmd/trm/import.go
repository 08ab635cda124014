package main

import (
	"fmt"
	"os"

	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/internal/version"
	"github.com/tinyrecursion/trm/interop"
)

// importCmd groups the conversions of other layouts into trm datasets.
type importCmd struct {
	Npy importNPYCmd `cmd:"" name:"npy" help:"Convert a dataset built by the reference (<split>/all__*.npy, dataset.json, identifiers.json) into a trm dataset, validating every array."`
}

type importNPYCmd struct {
	Refdir      string `arg:"" type:"existingdir" help:"Directory in the reference's NumPy layout."`
	Out         string `arg:"" type:"path" help:"Dataset directory to create."`
	Force       bool   `help:"Replace an existing dataset at OUT."`
	Workers     int    `help:"Shards encoded at once (0: all cores). Output bytes do not depend on it." default:"0"`
	ShardMB     int    `name:"shard-mb" help:"Target token megabytes (inputs+labels, uncompressed) per Parquet shard." default:"64"`
	Compression string `help:"Parquet codec: zstd (level 1), snappy, gzip, lz4, brotli or none." default:"zstd" enum:"zstd,snappy,gzip,lz4,brotli,none"`
}

func (c *importNPYCmd) Run(g *globals) error {
	bar := progress.New(-1, "import npy", "rows", g.Quiet)
	rep, err := interop.ImportNPY(g.ctx, c.Refdir, c.Out, interop.NPYImportOptions{
		Force: c.Force, Workers: workerCount(c.Workers), ShardBytes: int64(c.ShardMB) << 20, Compression: c.Compression,
		CodeVersion: version.String(), Progress: bar.Add,
	})
	bar.Finish()
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(os.Stderr, "trm: warning:", w)
	}
	printSplits(g, c.Out, rep.Splits)
	return nil
}
