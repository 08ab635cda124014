package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyrecursion/trm/kernels/cpu"
)

// tinyConfig is a configuration small enough for finite differences over
// the whole model. H_cycles is 1 so that the whole computation lies on the
// gradient path (with more cycles the reference's gradient is deliberately
// truncated, and finite differences of the loss would not match it).
func tinyConfig(mlpT bool) Config {
	c := DefaultConfig()
	c.BatchSize, c.SeqLen, c.VocabSize = 3, 4, 5
	c.HiddenSize, c.NumHeads, c.Expansion = 8, 2, 1
	c.PuzzleEmbNdim, c.PuzzleEmbLen, c.NumPuzzleIdentifiers = 11, 0, 4 // ndim > h: P = 2, padded
	c.HCycles, c.LCycles, c.LLayers = 1, 2, 2
	c.HaltMaxSteps, c.HaltExplorationProb = 2, 0
	c.MLPT = mlpT
	return c
}

func tinyBatch() *Batch {
	return &Batch{
		Inputs:            []int32{1, 2, 3, 4, 0, 0, 4, 2, 3, 3, 1, 0},
		Labels:            []int32{-100, 2, 4, 1, 0, 3, -100, 2, -100, -100, -100, -100},
		PuzzleIdentifiers: []int32{1, 3, 1},
	}
}

// randomise gives every weight and buffer a non-trivial value, so that no
// gradient is zero by accident of the initialisation (q_head starts at 0,
// the puzzle table at 0).
func randomise(m *Model[float64], seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, tn := range m.Tensors() {
		for i := range tn.Data {
			tn.Data[i] = 0.5 * rng.NormFloat64()
		}
	}
}

// TestModelGradientFiniteDifferences checks Backward against central
// differences of the loss in float64, for every parameter tensor and the
// puzzle-embedding table, in the three block variants.
func TestModelGradientFiniteDifferences(t *testing.T) {
	variants := []struct {
		name string
		cfg  func() Config
	}{
		{"attention_rope", func() Config { return tinyConfig(false) }},
		{"attention_learned", func() Config { c := tinyConfig(false); c.PosEncodings = "learned"; return c }},
		{"mlp_t_none", func() Config { c := tinyConfig(true); c.PosEncodings = "none"; return c }},
		{"no_puzzle_embedding", func() Config {
			c := tinyConfig(false)
			c.PuzzleEmbNdim, c.PuzzleEmbLen, c.LLayers = 0, 0, 1
			return c
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			m, err := New(v.cfg(), cpu.New64(2), 5)
			if err != nil {
				t.Fatal(err)
			}
			randomise(m, 11)
			batch := tinyBatch()
			const scale = 1.0 / 3
			loss := func() float64 {
				out, err := m.Forward(m.NewCarry(), batch, true)
				if err != nil {
					t.Fatal(err)
				}
				return scale * out.Loss
			}
			loss()
			if err := m.Backward(scale); err != nil {
				t.Fatal(err)
			}
			grads := append([]float64(nil), m.Grads...)
			pgrad := append([]float64(nil), m.PuzzleEmbGrad...)
			ids := append([]int32(nil), m.PuzzleEmbIDs...)

			rng := rand.New(rand.NewPCG(1, 2))
			worst := 0.0
			check := func(name string, data []float64, analytic func(i int) float64) {
				idx := rng.Perm(len(data))
				if len(idx) > 32 {
					idx = idx[:32]
				}
				var nonzero int
				for _, i := range idx {
					const h = 1e-5
					old := data[i]
					data[i] = old + h
					up := loss()
					data[i] = old - h
					down := loss()
					data[i] = old
					fd := (up - down) / (2 * h)
					an := analytic(i)
					if an != 0 {
						nonzero++
					}
					err := math.Abs(fd-an) / math.Max(1e-6, math.Abs(fd)+math.Abs(an))
					worst = math.Max(worst, err)
					if err > 1e-4 {
						t.Errorf("%s[%d]: backward %.10g, finite difference %.10g", name, i, an, fd)
					}
				}
				if nonzero == 0 {
					t.Errorf("%s: every checked gradient is zero", name)
				}
			}
			off := 0
			for _, tn := range m.Tensors() {
				switch {
				case tn.Grad != nil:
					base := off
					check(tn.Name, tn.Data, func(i int) float64 { return grads[base+i] })
					off += tn.Len()
				case tn.Name == "puzzle_emb.weights":
					nd := m.Cfg.PuzzleEmbNdim
					check(tn.Name, tn.Data, func(i int) float64 {
						var s float64
						for b, id := range ids {
							if int(id) == i/nd {
								s += pgrad[b*nd+i%nd]
							}
						}
						return s
					})
				}
			}
			t.Logf("worst relative disagreement %.2g", worst)
		})
	}
}
