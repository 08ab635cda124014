package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/internal/render"
	"github.com/tinyrecursion/trm/train"
	"golang.org/x/term"
)

type inspectCmd struct {
	Dataset string `arg:"" type:"existingdir" help:"Dataset directory."`
}

func (c *inspectCmd) Run(g *globals) error {
	ds, err := dataset.Open(c.Dataset)
	if err != nil {
		return err
	}
	m := ds.Manifest
	fmt.Printf("%s: %s format v%d, builder %s, seed %d, %s\n", c.Dataset, m.Format, m.Version, m.Builder.Name, m.Builder.Seed, m.CodeVersion)
	var config bytes.Buffer
	json.Compact(&config, m.Builder.Config)
	fmt.Printf("config: %s\n", config.String())
	fmt.Printf("%-6s %12s %10s %8s %6s %12s %8s %6s %7s %7s\n", "split", "examples", "puzzles", "groups", "shards", "bytes", "ratio", "vocab", "seq_len", "ids")
	for _, s := range m.Splits {
		meta := ds.Meta[s.Name]
		var size int64
		for _, sh := range s.Shards {
			size += sh.Bytes
		}
		// Raw size: the two token columns plus three int32 columns per row.
		raw := s.Rows * int64(2*meta.SeqLen+12)
		ratio := 0.0
		if size > 0 {
			ratio = float64(raw) / float64(size)
		}
		fmt.Printf("%-6s %12d %10d %8d %6d %12s %7.1fx %6d %7d %7d\n", s.Name, s.Rows, s.Puzzles, s.Groups, len(s.Shards), humanBytes(size), ratio, meta.VocabSize, meta.SeqLen, meta.NumPuzzleIdentifiers)
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

type verifyCmd struct {
	Dataset string `arg:"" type:"existingdir" help:"Dataset directory."`
	Workers int    `help:"Shards checked at once (0: all cores)." default:"0"`
}

func (c *verifyCmd) Run(g *globals) error {
	start := time.Now()
	ds, err := dataset.Open(c.Dataset)
	if err != nil {
		return err
	}
	var rows, shards int64
	for _, s := range ds.Manifest.Splits {
		rows += s.Rows
		shards += int64(len(s.Shards))
	}
	bar := progress.New(rows, "verify", "rows", g.Quiet)
	err = dataset.Verify(g.ctx, ds, dataset.VerifyOptions{Workers: workerCount(c.Workers), Progress: func(n int64) { bar.Add(int(n)) }})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("verification failed: %w", err)
	}
	fmt.Printf("ok: %s: %d shards, %d rows verified in %.2fs\n", c.Dataset, shards, rows, time.Since(start).Seconds())
	return nil
}

type showCmd struct {
	Dataset    string `arg:"" type:"existingdir" help:"Dataset directory."`
	Split      string `help:"Split." default:"train"`
	Row        int64  `help:"Row (example) number within the split." default:"0"`
	PNG        string `name:"png" help:"Write a picture (input, label, and the prediction with --checkpoint, left to right) to this PNG file." type:"path" placeholder:"FILE"`
	Checkpoint string `help:"Also draw this checkpoint's prediction (a step directory, or a run directory for its latest step)." type:"existingdir" placeholder:"DIR"`
}

func (c *showCmd) Run(g *globals) error {
	ds, err := dataset.Open(c.Dataset)
	if err != nil {
		return err
	}
	sm, meta, err := ds.Split(c.Split)
	if err != nil {
		return err
	}
	ex, err := ds.ReadRow(g.ctx, c.Split, c.Row)
	if err != nil {
		return err
	}
	h, w := sm.GridShape[0], sm.GridShape[1]
	kind := render.KindFor(meta.VocabSize, meta.SeqLen)
	aug := ex.Aug
	if aug == "" {
		aug = "original"
	}
	fmt.Printf("%s row %d: group %d, puzzle %d, identifier %d, set %s, aug %s\n", c.Split, ex.Row, ex.Group, ex.Puzzle, ex.Identifier, ex.Set, aug)
	grids := [][]byte{ex.Input, ex.Label}
	if c.Checkpoint != "" {
		pred, steps, err := train.Predict(g.ctx, c.Checkpoint, ex.Input, ex.Identifier, meta.VocabSize, meta.NumPuzzleIdentifiers)
		if err != nil {
			return err
		}
		right := 0
		for i := range pred {
			if pred[i] == ex.Label[i] {
				right++
			}
		}
		fmt.Printf("prediction after %d ACT steps: %d of %d tokens right\n", steps, right, len(pred))
		grids = append(grids, pred)
	}
	if c.PNG != "" {
		err := atomicdir.ReplaceFile(c.PNG, func(f io.Writer) error { return render.PNG(f, grids, h, w, 16, kind) })
		if err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", c.PNG)
		return nil
	}
	colours := term.IsTerminal(int(os.Stdout.Fd()))
	for i, name := range []string{"input", "label", "prediction"}[:len(grids)] {
		fmt.Println(name + ":")
		if err := render.Text(os.Stdout, grids[i], h, w, kind, colours); err != nil {
			return err
		}
	}
	return nil
}
