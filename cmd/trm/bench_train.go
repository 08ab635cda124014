package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tinyrecursion/trm/train"
)

type benchTrainCmd struct {
	Overrides []string `arg:"" optional:"" help:"Reference-style overrides of the model and batch (default: ${defaults})."`
	Data      string   `help:"Dataset to train on (default: a generated Sudoku-shaped one)." type:"existingdir"`
	Variants  []string `help:"Model variants to measure: attention (rotary positions), mlp_t (no positions)." default:"attention,mlp_t" enum:"attention,mlp_t"`
	Steps     int      `help:"Steps timed per round and measurement, after one warm-up step." default:"3"`
	Rounds    int      `help:"Interleaved rounds; the best of each measurement is reported." default:"3"`
	Torch     string   `help:"The PyTorch re-implementation of the reference to measure beside trm (empty: none)." default:"benchmarks/train/torch_trm.py" placeholder:"SCRIPT"`
	Python    string   `help:"Python interpreter for --torch." default:"python3"`
}

func (c *benchTrainCmd) Run(g *globals) error {
	dir, err := os.MkdirTemp("", "trm-bench-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf := func(format string, args ...any) {
		if !g.Quiet {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	mc, res, err := train.Bench(g.ctx, train.BenchConfig{Data: c.Data, Dir: dir, Variants: c.Variants, Overrides: c.Overrides,
		Steps: c.Steps, Rounds: c.Rounds, Torch: c.Torch, Python: c.Python}, logf)
	if err != nil {
		return err
	}
	fmt.Printf("TRM hidden %d, %d heads, %d layers, H_cycles %d, L_cycles %d, halt_max_steps %d; batch %d x %d tokens (%d + %d puzzle positions), vocab %d\n",
		mc.HiddenSize, mc.NumHeads, mc.LLayers, mc.HCycles, mc.LCycles, mc.HaltMaxSteps, mc.BatchSize, mc.TotalLen(), mc.SeqLen, mc.PrefixLen(), mc.VocabSize)
	fmt.Printf("%d interleaved rounds of %d steps after one warm-up step; best round of each. A step: ACT forward, backward, both optimisers (trainer: plus loader, EMA, metrics); the evaluation rollout runs %d forward steps.\n",
		c.Rounds, c.Steps, mc.HaltMaxSteps)
	for _, r := range res {
		if r.Backend != "" {
			fmt.Printf("trm's backend: %s (the device override chooses: %s)\n", r.Backend, strings.Join(train.Devices, ", "))
			break
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tmeasurement\tms/step\texamples/s\tGFLOP/s\tCPU s/step\tvs baseline\t")
	var skipped []string
	for _, r := range res {
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s, %s: not measured: %s", r.Variant, r.Name, r.Skipped))
			continue
		}
		examples, ratio := "-", fmt.Sprintf("%.0f%% of its rate", 100*r.Ratio)
		if r.ExamplesPerSec > 0 {
			examples, ratio = fmt.Sprintf("%.1f", r.ExamplesPerSec), fmt.Sprintf("%.0f%%", 100*r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%.1f\t%.2f\t%s\t\n", r.Variant, r.Name, r.StepSeconds*1e3, examples, r.GFLOPs, r.CPUSeconds, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println(`"vs baseline": examples/s against the model step of the same variant; for GEMM, the model step's GFLOP/s as a share of the backend's GEMM on the model's largest matmul.`)
	if len(skipped) > 0 {
		fmt.Println(strings.Join(skipped, "\n"))
	}
	return nil
}
