package model

import (
	"math/rand/v2"
	"testing"

	"github.com/tinyrecursion/trm/internal/procstat"
	"github.com/tinyrecursion/trm/kernels/cpu"
)

// sudokuConfig is the small Sudoku configuration of the benchmark: hidden
// 128, 4 heads, 2 layers, H_cycles 3, L_cycles 6, batch 64, 81 tokens after
// 16 puzzle-embedding positions.
func sudokuConfig(mlpT bool) Config {
	c := DefaultConfig()
	c.BatchSize, c.SeqLen, c.VocabSize = 64, 81, 11
	c.HiddenSize, c.NumHeads, c.PuzzleEmbNdim, c.NumPuzzleIdentifiers = 128, 4, 128, 1
	c.HCycles, c.LCycles, c.LLayers = 3, 6, 2
	c.MLPT = mlpT
	if mlpT {
		c.PosEncodings = "none"
	}
	return c
}

// benchModel is the benchmark's model and a fixed random batch.
func benchModel(b *testing.B, mlpT bool) (*Model[float32], *Batch) {
	cfg := sudokuConfig(mlpT)
	be := cpu.New32(0)
	b.Cleanup(be.Close)
	m, err := New(cfg, be, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	batch := &Batch{Inputs: make([]int32, cfg.BatchSize*cfg.SeqLen), Labels: make([]int32, cfg.BatchSize*cfg.SeqLen),
		PuzzleIdentifiers: make([]int32, cfg.BatchSize)}
	for i := range batch.Inputs {
		batch.Inputs[i] = int32(1 + rng.IntN(cfg.VocabSize-1))
		batch.Labels[i] = int32(1 + rng.IntN(cfg.VocabSize-1))
	}
	return m, batch
}

// benchSteps runs, for both variants, b.N calls of the step that makeStep
// returns (after one call that warms the scratch pools) and reports the
// rates of a step of train's FLOPs.
func benchSteps(b *testing.B, train bool, makeStep func(b *testing.B, m *Model[float32], batch *Batch) func()) {
	for _, v := range []struct {
		name string
		mlpT bool
	}{{"attention", false}, {"mlp_t", true}} {
		b.Run(v.name, func(b *testing.B) {
			m, batch := benchModel(b, v.mlpT)
			step := makeStep(b, m, batch)
			step()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := procstat.CPUTime().Seconds()
			for range b.N {
				step()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/step")
			b.ReportMetric(m.Cfg.StepFLOPs(train)/sec/1e9, "GFLOP/s")
			// CPU seconds per step stay meaningful on a shared machine:
			// divided by the core count they bound the idle-machine time.
			b.ReportMetric((procstat.CPUTime().Seconds()-cpu0)/float64(b.N), "cpu-s/step")
		})
	}
}

// BenchmarkEvalStep times one evaluation ACT step (the forward pass alone,
// every cycle without gradient), the unit of an evaluation rollout.
func BenchmarkEvalStep(b *testing.B) {
	benchSteps(b, false, func(b *testing.B, m *Model[float32], batch *Batch) func() {
		carry := m.NewCarry()
		return func() {
			if _, err := m.Forward(carry, batch, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTrainStep times one training step: ACT forward, backward of the
// last cycle, AdamATan2 over all parameters and SignSGD on the puzzle rows.
// Run with -benchtime=3x: a step is hundreds of GFLOP.
func BenchmarkTrainStep(b *testing.B) {
	benchSteps(b, true, func(b *testing.B, m *Model[float32], batch *Batch) func() {
		carry := m.NewCarry()
		adam, sgd := NewAdamATan2(m, 0.9, 0.95, 1), NewSignSGD[float32](1)
		return func() {
			if _, err := m.Forward(carry, batch, true); err != nil {
				b.Fatal(err)
			}
			if err := m.Backward(1 / float64(m.Cfg.BatchSize)); err != nil {
				b.Fatal(err)
			}
			if err := sgd.Step(m, 1e-4); err != nil {
				b.Fatal(err)
			}
			adam.Step(1e-4)
		}
	})
}
