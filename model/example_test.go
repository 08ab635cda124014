package model_test

import (
	"fmt"

	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
)

// A training loop: the model learns to copy its input, one ACT step per
// batch, with the reference's two optimisers.
func Example_training() {
	cfg := model.DefaultConfig()
	cfg.BatchSize, cfg.SeqLen, cfg.VocabSize = 8, 6, 5
	cfg.HiddenSize, cfg.NumHeads, cfg.LLayers = 32, 2, 1
	cfg.HCycles, cfg.LCycles = 2, 2
	cfg.PuzzleEmbNdim, cfg.PuzzleEmbLen, cfg.NumPuzzleIdentifiers = 32, 1, 1
	cfg.HaltMaxSteps = 2

	be := cpu.New32(0)
	defer be.Close()
	m, err := model.New(cfg, be, 1)
	if err != nil {
		panic(err)
	}
	adam := model.NewAdamATan2(m, 0.9, 0.95, 0.1)
	sgd := model.NewSignSGD[float32](0.1)
	schedule := model.Schedule{Base: 3e-3, WarmupSteps: 10, TotalSteps: 300, MinRatio: 1}
	carry := m.NewCarry()
	batch := &model.Batch{
		Inputs:            make([]int32, cfg.BatchSize*cfg.SeqLen),
		Labels:            make([]int32, cfg.BatchSize*cfg.SeqLen),
		PuzzleIdentifiers: make([]int32, cfg.BatchSize),
	}
	var first, last float64
	for step := 1; step <= 300; step++ {
		for i := range batch.Inputs {
			batch.Inputs[i] = int32((i*7 + step*3) % cfg.VocabSize)
			batch.Labels[i] = batch.Inputs[i]
		}
		out, err := m.Forward(carry, batch, true)
		if err != nil {
			panic(err)
		}
		if err := m.Backward(1 / float64(cfg.BatchSize)); err != nil {
			panic(err)
		}
		if err := sgd.Step(m, schedule.LR(step)); err != nil {
			panic(err)
		}
		adam.Step(schedule.LR(step))
		if step == 1 {
			first = out.Metrics.LMLoss
		}
		last = out.Metrics.LMLoss
	}
	fmt.Println("lm loss fell below a tenth:", last < first/10)
	// Output: lm loss fell below a tenth: true
}
