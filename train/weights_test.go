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

// TestTorchSaveFilesAreNamed: a reference checkpoint (torch.save: a zip
// archive, or a pickle in older torch) gets an error saying what it is and
// how to convert it, while a safetensors file whose header length happens
// to start with the same bytes still decodes.
func TestTorchSaveFilesAreNamed(t *testing.T) {
	for _, data := range [][]byte{[]byte("PK\x03\x04\x14\x00\x00\x00archive/data.pkl"), {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20}} {
		_, _, err := decodeSafetensors("step_100", data)
		if err == nil || !strings.Contains(err.Error(), "torch.save") || !strings.Contains(err.Error(), "torch_trm.py convert step_100 step_100.safetensors") {
			t.Errorf("% x: error %v, want one naming torch.save and the conversion", data[:4], err)
		}
	}
	// A header of 0x280 bytes: the file starts 0x80 0x02, as a pickle does.
	for pad := 0; pad < 700; pad++ {
		file := encodeSafetensors([]stTensor{{"a", "F32", []int{1}, f32Bytes([]float32{3})}}, map[string]string{"pad": strings.Repeat("x", pad)})
		if file[0] != 0x80 || file[1] != 0x02 {
			continue
		}
		ts, _, err := decodeSafetensors("x", file)
		if err != nil || len(ts) != 1 {
			t.Fatalf("safetensors with a header of 640 bytes: %v", err)
		}
		return
	}
	t.Fatal("no padding gave a 640-byte header")
}
