package main

import (
	"fmt"
	"path/filepath"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/train"
)

type plotCmd struct {
	Dir string `arg:"" name:"run" help:"Run directory (holding metrics.jsonl)." type:"existingdir"`
	Out string `help:"PNG file to write (default: RUN/curves.png)." type:"path" placeholder:"FILE"`
}

func (c *plotCmd) Run(g *globals) error {
	recs, err := train.ReadMetrics(filepath.Join(c.Dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	img, err := train.PlotMetrics(recs, filepath.Base(filepath.Clean(c.Dir)))
	if err != nil {
		return fmt.Errorf("%s: %w", c.Dir, err)
	}
	out := c.Out
	if out == "" {
		out = filepath.Join(c.Dir, "curves.png")
	}
	if err := atomicdir.WriteFileAtomic(out, img); err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}
