package main

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/tinyrecursion/trm/train"
)

type evalCmd struct {
	Checkpoint string   `help:"Checkpoint directory (run/step_N), run directory (its latest step), or a weights file: the reference's step_N (torch.save) or safetensors, configured by the overrides (e.g. arch.L_cycles=4) and --data." required:"" type:"path" placeholder:"PATH"`
	Data       []string `help:"Dataset directories whose test split is evaluated (default: the checkpoint's)." type:"existingdir" placeholder:"DIR"`
	Overrides  []string `arg:"" optional:"" help:"Overrides of the saved configuration, e.g. global_batch_size=256."`
	Nproc      int      `help:"Evaluate data parallel with this many processes on this machine, each on global_batch_size/N rows of every batch (and its own GPU with device=cuda); or start trm eval under torchrun's variables." default:"1" placeholder:"N"`
}

func (c *evalCmd) Run(g *globals) error {
	group, gpu, launched, err := joinJob(g.ctx, c.Nproc)
	if launched || err != nil {
		return err
	}
	if group != nil {
		defer group.Close()
	}
	r, err := train.EvalCheckpoint(g.ctx, c.Checkpoint, c.Data, c.Overrides, train.EvalJob{Group: group, GPU: gpu})
	if err != nil || group != nil && group.Rank() > 0 {
		// Rank 0 reports the job's metrics.
		return rankError(group, err)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(os.Stderr, n)
	}
	fmt.Printf("checkpoint %s (step %d): %d examples in %.1fs (%.0f examples/s), backend %s\n",
		r.Checkpoint, r.Step, r.Examples, r.Seconds, float64(r.Examples)/r.Seconds, r.Backend)
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		fmt.Printf("  %-24s %.6g\n", k, r.Metrics[k])
	}
	return nil
}
