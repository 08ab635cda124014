package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tinyrecursion/trm/train"
	"github.com/tinyrecursion/trm/train/dist"
)

type trainCmd struct {
	Overrides []string `arg:"" optional:"" help:"Reference-style overrides: key=value, arch.key=value, +key=value (e.g. arch.L_cycles=4 lr=1e-4 ema=True data_paths=[data/maze])."`
	Config    string   `help:"YAML file merged over the reference defaults before the overrides." type:"existingfile" placeholder:"FILE"`
	Resume    string   `help:"Continue the run in this directory exactly from its latest checkpoint." type:"path" placeholder:"RUN"`
	StopAt    int      `help:"Stop with a checkpoint after this many steps (resume later with --resume)." placeholder:"STEP"`
	DryRun    bool     `help:"Print the resolved configuration and exit."`
	Nproc     int      `help:"Train data parallel with this many processes on this machine, each on global_batch_size/N rows (and its own GPU with device=cuda). For jobs across machines start trm train under torchrun's RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead." default:"1" placeholder:"N"`
}

func (c *trainCmd) Run(g *globals) error {
	if c.DryRun {
		return c.train(g, nil, 0)
	}
	group, gpu, launched, err := joinJob(g.ctx, c.Nproc)
	if launched || err != nil {
		return err
	}
	if group != nil {
		defer group.Close()
	}
	return rankError(group, c.train(g, group, gpu))
}

// train runs this process's part of the training: all of it, or one
// rank's in a job.
func (c *trainCmd) train(g *globals, group *dist.Group, gpu int) error {
	lead := group == nil || group.Rank() == 0
	opts := train.Options{StopAtStep: c.StopAt, Group: group, GPU: gpu}
	if lead {
		// The other ranks train silently: rank 0 logs the job's metrics.
		opts.Log = os.Stderr
		if !g.Quiet {
			opts.Progress = os.Stderr
		}
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
		if lead {
			fmt.Printf("%s", cfg.YAML())
		}
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
	if lead {
		fmt.Fprintf(os.Stderr, "step %d of %d; train %.1fs (waiting for data %.1fs), eval %.1fs; run directory %s\n",
			t.Step(), t.TotalSteps(), t.TrainTime.Seconds(), t.WaitTime.Seconds(), t.EvalTime.Seconds(), t.Dir)
	}
	if errors.Is(err, train.ErrStopped) {
		if lead {
			resume := "trm train --resume " + t.Dir
			if group != nil {
				resume = fmt.Sprintf("trm train --nproc %d --resume %s", group.Size(), t.Dir)
			}
			fmt.Fprintf(os.Stderr, "stopped; continue with: %s\n", resume)
		}
		// Interrupted runs exit non-zero, so that `trm train && trm eval`
		// does not go on with an unfinished model.
		return g.ctx.Err()
	}
	return err
}
