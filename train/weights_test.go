package train

import (
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
)

func tinyModel(t *testing.T, ids int) *model.Model[float32] {
	t.Helper()
	c := model.DefaultConfig()
	c.BatchSize, c.SeqLen, c.VocabSize, c.NumPuzzleIdentifiers = 2, 4, 5, ids
	c.HiddenSize, c.NumHeads, c.PuzzleEmbNdim, c.PuzzleEmbLen = 8, 2, 8, 1
	c.HCycles, c.LCycles, c.LLayers = 1, 1, 1
	be := cpu.New32(1)
	t.Cleanup(be.Close)
	m, err := model.New(c, be, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLoadCheckpointResize checks the reference's load_checkpoint rule: a
// puzzle-embedding table of another row count becomes its mean row,
// broadcast; every other tensor must match exactly.
func TestLoadCheckpointResize(t *testing.T) {
	src := tinyModel(t, 3)
	for i := range src.PuzzleEmb {
		src.PuzzleEmb[i] = float32(i)
	}
	for i := range src.Params {
		src.Params[i] += float32(i%7) + 1 // differ from dst's own initialisation
	}
	data := encodeSafetensors(weightsTensors(src), nil)
	dst := tinyModel(t, 5)
	if err := setWeights("w", data, dst, false); err == nil || !strings.Contains(err.Error(), "puzzle_emb.weights") {
		t.Errorf("loading without resize: %v", err)
	}
	if err := setWeights("w", data, dst, true); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst.PuzzleEmb {
		j := i % 8
		want := float32(j+(8+j)+(16+j)) / 3
		if v != want {
			t.Fatalf("row %d col %d = %g, want the mean %g", i/8, j, v, want)
		}
	}
	for i, v := range dst.Params {
		if v != src.Params[i] {
			t.Fatalf("parameter %d = %g, want %g", i, v, src.Params[i])
		}
	}
}
