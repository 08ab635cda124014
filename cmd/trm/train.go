package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tinyrecursion/trm/train"
)

type trainCmd struct {
	Overrides []string `arg:"" optional:"" help:"Reference-style overrides: key=value, arch.key=value, +key=value (e.g. arch.L_cycles=4 lr=1e-4 ema=True data_paths=[data/maze])."`
	Config    string   `help:"YAML file merged over the reference defaults before the overrides." type:"existingfile" placeholder:"FILE"`
	Resume    string   `help:"Continue the run in this directory exactly from its latest checkpoint." type:"path" placeholder:"RUN"`
	StopAt    int      `help:"Stop with a checkpoint after this many steps (resume later with --resume)." placeholder:"STEP"`
	DryRun    bool     `help:"Print the resolved configuration and exit."`
}

func (c *trainCmd) Run(g *globals) error {
	opts := train.Options{Log: os.Stderr, StopAtStep: c.StopAt}
	if !g.Quiet {
		opts.Progress = os.Stderr
	}
	var t *train.Trainer
	var err error
	if c.Resume != "" {
		if len(c.Overrides) > 0 || c.Config != "" {
			return errors.New("--resume continues the saved configuration; overrides and --config are not allowed with it")
		}
		t, err = train.Resume(g.ctx, c.Resume, opts)
	} else {
		var cfg *train.Config
		if cfg, err = train.LoadConfig(c.Config, c.Overrides); err != nil {
			return err
		}
		fmt.Printf("%s", cfg.YAML())
		if c.DryRun {
			return nil
		}
		t, err = train.New(g.ctx, cfg, opts)
	}
	if err != nil {
		return err
	}
	defer t.Close()
	err = t.Run(g.ctx)
	fmt.Fprintf(os.Stderr, "step %d of %d; train %.1fs (waiting for data %.1fs), eval %.1fs; run directory %s\n",
		t.Step(), t.TotalSteps(), t.TrainTime.Seconds(), t.WaitTime.Seconds(), t.EvalTime.Seconds(), t.Dir)
	if errors.Is(err, train.ErrStopped) {
		fmt.Fprintf(os.Stderr, "stopped; continue with: trm train --resume %s\n", t.Dir)
		// Interrupted runs exit non-zero, so that `trm train && trm eval`
		// does not go on with an unfinished model.
		return g.ctx.Err()
	}
	return err
}
