package train

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/internal/torchsave"
	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
)

func tinyModel(t testing.TB, ids int) *model.Model[float32] {
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

// TestTorchSaveWeights: model weights are read from a torch.save
// state_dict (the reference's step_<N> files) as from safetensors, every
// tensor widened to float32; a broken one is an error naming the file; a
// safetensors file whose header length happens to start with a pickle's
// bytes still decodes as safetensors.
func TestTorchSaveWeights(t *testing.T) {
	const fixture = "../internal/torchsave/testdata/state_dict.pt"
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := decodeWeights(fixture, data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := torchsave.Read(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got := ts[w.Name]
		if got.DType != "F32" || !slices.Equal(got.Shape, w.Shape) || !bytes.Equal(got.Data, f32Bytes(w.Values)) {
			t.Errorf("%s: %s %v, want F32 %v with the state_dict's values", w.Name, got.DType, got.Shape, w.Shape)
		}
	}
	if _, _, err := decodeSafetensors(fixture, data); err == nil || !strings.Contains(err.Error(), "torch.save") {
		t.Errorf("a torch.save file read as safetensors: %v, want an error naming torch.save", err)
	}
	if _, _, err := decodeWeights("step_100", data[:len(data)/2]); err == nil || !strings.Contains(err.Error(), "step_100: not a torch.save zip") {
		t.Errorf("a truncated torch.save file: %v, want an error naming it", err)
	}
	// A header of 0x280 bytes: the file starts 0x80 0x02, as a pickle does.
	for pad := 0; pad < 700; pad++ {
		file := encodeSafetensors([]stTensor{{"a", "F32", []int{1}, f32Bytes([]float32{3})}}, map[string]string{"pad": strings.Repeat("x", pad)})
		if file[0] != 0x80 || file[1] != 0x02 {
			continue
		}
		ts, _, err := decodeWeights("x", file)
		if err != nil || len(ts) != 1 {
			t.Fatalf("safetensors with a header of 640 bytes: %v", err)
		}
		return
	}
	t.Fatal("no padding gave a 640-byte header")
}
