package train

import (
	"context"
	"encoding/binary"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/kernels"
)

// TestEvalSaveOutputs: the tensors eval_save_outputs names are saved from
// training's evaluations and from trm eval, row for row in test-split order
// with the padding rows of the last batch; the saved inputs, labels and
// identifiers are the dataset's, preds are the argmax of the saved logits
// and equal a one-example prediction, and the token accuracy recomputed
// from them is the one the evaluation reported.
func TestEvalSaveOutputs(t *testing.T) {
	const testRows = 20 // global batch 16: the second batch has 12 padding rows
	data := mazeDataset(t, 64, testRows, 5)
	run := filepath.Join(t.TempDir(), "run")
	trainTiny(t, data, run, "epochs=2", "eval_interval=2", "eval_save_outputs=[preds,inputs]")
	during := readOutputs(t, filepath.Join(run, "step_8_all_preds.0.safetensors"))
	if keys := slices.Sorted(maps.Keys(during)); !slices.Equal(keys, []string{"inputs", "preds"}) {
		t.Fatalf("saved during training: %v, want inputs and preds", keys)
	}

	res, err := EvalCheckpoint(context.Background(), run, nil, []string{"eval_save_outputs=[" + strings.Join(EvalOutputKeys, ",") + "]"}, EvalJob{})
	if err != nil {
		t.Fatal(err)
	}
	out := readOutputs(t, filepath.Join(res.Checkpoint, "eval_all_preds.0.safetensors"))
	ds, err := dataset.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := ds.Split("test")
	if err != nil {
		t.Fatal(err)
	}
	seq, vocab, rows := meta.SeqLen, meta.VocabSize, 32
	shapes := map[string][]int{"inputs": {rows, seq}, "labels": {rows, seq}, "preds": {rows, seq}, "puzzle_identifiers": {rows},
		"logits": {rows, seq, vocab}, "q_halt_logits": {rows}, "q_continue_logits": {rows}}
	for k, want := range shapes {
		if !slices.Equal(out[k].Shape, want) {
			t.Fatalf("%s: shape %v, want %v", k, out[k].Shape, want)
		}
	}
	inputs, labels, preds, ids := i32s(out["inputs"]), i32s(out["labels"]), i32s(out["preds"]), i32s(out["puzzle_identifiers"])
	logits := f32s(out["logits"])
	if !slices.Equal(preds, i32s(during["preds"])) || !slices.Equal(inputs, i32s(during["inputs"])) {
		t.Fatal("trm eval of the final checkpoint saved other preds or inputs than the run's last evaluation")
	}
	var acc float64
	for r := range rows {
		if r >= testRows { // padding: blank identifier, nothing to score
			if ids[r] != int32(meta.BlankIdentifierID) || slices.ContainsFunc(labels[r*seq:(r+1)*seq], func(l int32) bool { return l != kernels.IgnoreLabel }) {
				t.Fatalf("padding row %d: identifier %d, labels %v", r, ids[r], labels[r*seq:(r+1)*seq])
			}
			continue
		}
		ex, err := ds.ReadRow(context.Background(), "test", int64(r))
		if err != nil {
			t.Fatal(err)
		}
		if ids[r] != ex.Identifier {
			t.Fatalf("row %d: identifier %d, dataset %d", r, ids[r], ex.Identifier)
		}
		right, n := 0, 0
		for i := range seq {
			label := int32(ex.Label[i])
			if label == int32(*meta.IgnoreLabelID) {
				label = kernels.IgnoreLabel
			}
			if inputs[r*seq+i] != int32(ex.Input[i]) || labels[r*seq+i] != label {
				t.Fatalf("row %d token %d: input %d label %d, dataset %d %d", r, i, inputs[r*seq+i], labels[r*seq+i], ex.Input[i], label)
			}
			row := logits[(r*seq+i)*vocab : (r*seq+i+1)*vocab]
			if best := int32(slices.Index(row, slices.Max(row))); preds[r*seq+i] != best {
				t.Fatalf("row %d token %d: pred %d, argmax of the saved logits %d", r, i, preds[r*seq+i], best)
			}
			if label != kernels.IgnoreLabel {
				n++
				if preds[r*seq+i] == label {
					right++
				}
			}
		}
		acc += float64(right) / float64(max(n, 1))
		if r < 3 {
			pred, _, err := Predict(context.Background(), run, ex.Input, ex.Identifier, vocab, meta.NumPuzzleIdentifiers)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pred {
				if int32(p) != preds[r*seq+i] {
					t.Fatalf("row %d token %d: saved pred %d, one-example prediction %d", r, i, preds[r*seq+i], p)
				}
			}
		}
	}
	if got := acc / testRows; math.Abs(got-res.Metrics["all/accuracy"]) > 1e-6 {
		t.Fatalf("token accuracy from the saved tensors %v, evaluation reported %v", got, res.Metrics["all/accuracy"])
	}
	if left, _ := filepath.Glob(filepath.Join(res.Checkpoint, ".*tmp*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestEvalSaveOutputsCancelled: an evaluation stopped by Ctrl-C leaves
// neither the output file nor its temporary parts.
func TestEvalSaveOutputsCancelled(t *testing.T) {
	data := mazeDataset(t, 32, 40, 2)
	run := filepath.Join(t.TempDir(), "run")
	tr, err := New(context.Background(), tinyConfig(t, data, run, "eval_save_outputs=[logits]"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.EvaluateNow(ctx); err == nil {
		t.Fatal("a cancelled evaluation returned no error")
	}
	entries, err := os.ReadDir(run)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), "all_preds") {
			t.Fatalf("cancelled evaluation left %s", e.Name())
		}
	}
}

func TestEvalSaveOutputsConfig(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"[pred]", `did you mean "preds"`},
		{"[inputs,inputs]", "names a tensor twice"},
	} {
		cfg, err := LoadConfig("", []string{"data_paths=[x]", "eval_save_outputs=" + c.value})
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval_save_outputs=%s: error %v, want one containing %q", c.value, err, c.want)
		}
	}
}

func readOutputs(t *testing.T, path string) map[string]stTensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tensors, _, err := decodeSafetensors(path, raw)
	if err != nil {
		t.Fatal(err)
	}
	return tensors
}

func i32s(t stTensor) []int32 {
	v := make([]int32, len(t.Data)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v
}

func f32s(t stTensor) []float32 {
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v
}
