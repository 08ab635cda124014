package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// torchPort returns the interpreter and script of the PyTorch
// re-implementation of the reference, skipping the test where Debian's
// python3-torch is not installed.
func torchPort(t *testing.T) (python, script string) {
	t.Helper()
	python = "/usr/bin/python3" // Debian's, where python3-torch installs
	if testing.Short() {
		t.Skip("-short: skipping the PyTorch run")
	}
	if out, err := exec.Command(python, "-c", "import torch, numpy, yaml").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch, numpy and yaml (install python3-torch to run this check): %v: %s", python, err, strings.TrimSpace(string(out)))
	}
	script = "../benchmarks/train/torch_trm.py"
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}
	return python, script
}

// runPort runs the port and fails the test unless it exits 0 printing OK.
func runPort(t *testing.T, python string, args ...string) {
	t.Helper()
	out, err := exec.Command(python, args...).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	if !strings.Contains(string(out), "OK: ") {
		t.Fatalf("%s printed no OK line", strings.Join(args, " "))
	}
}

// TestTorchPortReproducesGolden runs the PyTorch re-implementation that
// trm bench train measures beside trm against the reference's numeric
// golden: a baseline that computed something else would make the
// comparison meaningless.
func TestTorchPortReproducesGolden(t *testing.T) {
	python, script := torchPort(t)
	runPort(t, python, script, "check", "../model/testdata/model-golden.json")
}

// TestTorchPortReplaysCheckpoint: a checkpoint trm trained loads into the
// PyTorch model under the reference's state_dict names (read from
// safetensors by json and numpy, not by trm), and its evaluation rollout
// on the batches trm eval saved gives trm's logits, halting logits and
// predictions: train in trm, evaluate in PyTorch, and the other way round.
func TestTorchPortReplaysCheckpoint(t *testing.T) {
	python, script := torchPort(t)
	data := mazeDataset(t, 64, 20, 9)
	for _, variant := range [][]string{
		{"arch.pos_encodings=rope"},
		{"arch.mlp_t=True", "arch.pos_encodings=none"},
	} {
		run := filepath.Join(t.TempDir(), "run")
		trainTiny(t, data, run, append([]string{"epochs=2", "eval_interval=2", "ema=True"}, variant...)...)
		res, err := EvalCheckpoint(context.Background(), run, nil,
			[]string{"eval_save_outputs=[inputs,labels,puzzle_identifiers,logits,preds,q_halt_logits]"}, EvalJob{})
		if err != nil {
			t.Fatal(err)
		}
		runPort(t, python, script, "replay", res.Checkpoint, filepath.Join(res.Checkpoint, "eval_all_preds.0.safetensors"))
	}
}

// TestTorchPortConvertsReferenceCheckpoints: a checkpoint saved the way the
// reference saves one (torch.save of the state_dict, with torch.compile's
// _orig_mod. prefix and H_init/L_init in bf16) loads through
// load_checkpoint directly, and after the port's convert command into
// safetensors, with every tensor's values intact both ways.
func TestTorchPortConvertsReferenceCheckpoints(t *testing.T) {
	python, script := torchPort(t)
	data := mazeDataset(t, 64, 8, 4)
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	trained := trainTiny(t, data, run, "epochs=2", "eval_interval=2").Model()
	ck, err := FindCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "step_8")
	save := `
import sys, torch
sys.path.insert(0, sys.argv[1])
from torch_trm import read_safetensors
state = read_safetensors(sys.argv[2])
for k in state:
    if k.endswith("_init"):
        state[k] = state[k].to(torch.bfloat16)  # the reference keeps these in its forward dtype
torch.save(state, sys.argv[3])
`
	if out, err := exec.Command(python, "-c", save, filepath.Dir(script), filepath.Join(ck, WeightsFile), ref).CombinedOutput(); err != nil {
		t.Fatalf("torch.save: %v\n%s", err, out)
	}
	if _, _, err := decodeSafetensors(ref, mustRead(t, ref)); err == nil || !strings.Contains(err.Error(), "torch.save") {
		t.Fatalf("reading the torch.save file as safetensors: %v, want the torch.save error", err)
	}
	runPort(t, python, script, "convert", ref, ref+".safetensors")
	// load_checkpoint reads the reference's file itself, or its conversion.
	for i, path := range []string{ref, ref + ".safetensors"} {
		cfg := tinyConfig(t, data, filepath.Join(dir, fmt.Sprintf("run-%d", i)), "load_checkpoint="+path)
		loaded, err := New(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range trained.Tensors() {
			got := loaded.Model().Tensors()[j]
			for k := range want.Data {
				w := want.Data[k]
				if strings.HasSuffix(want.Name, "_init") {
					w = roundBF16(w)
				}
				if got.Data[k] != w {
					t.Fatalf("%s: %s[%d] = %v, %v before the round trip", path, want.Name, k, got.Data[k], w)
				}
			}
		}
		loaded.Close()
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundBF16 rounds to the nearest bfloat16, ties to even, as torch does.
func roundBF16(f float32) float32 {
	b := math.Float32bits(f)
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}
