package main

import (
	"fmt"

	"github.com/tinyrecursion/trm/loader"
)

type cacheCmd struct {
	Dataset string   `arg:"" type:"existingdir" help:"Dataset directory."`
	Split   []string `help:"Splits to cache (default: all)."`
	Dir     string   `help:"Cache directory (default: DATASET/.trm-cache)."`
	Workers int      `help:"Shards decoded at once (0: all cores)." default:"0"`
}

func (c *cacheCmd) Run(g *globals) error {
	reps, err := loader.BuildCache(g.ctx, c.Dataset, c.Dir, c.Split, workerCount(c.Workers))
	if err != nil {
		return err
	}
	for _, r := range reps {
		fmt.Printf("%s: %d shards, %d (re)built, %d rows, %s of Arrow IPC from %s of Parquet in %s\n",
			r.Split, r.Shards, r.Built, r.Rows, humanBytes(r.Bytes), humanBytes(r.ParquetBytes), r.CacheDirectory)
	}
	return nil
}
