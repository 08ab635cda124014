package train

import (
	"context"
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
		tr, err := New(context.Background(), tinyConfig(t, data, run, append([]string{"epochs=2", "eval_interval=2", "ema=True"}, variant...)...), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		res, err := EvalCheckpoint(context.Background(), run, nil,
			[]string{"eval_save_outputs=[inputs,labels,puzzle_identifiers,logits,preds,q_halt_logits]"})
		if err != nil {
			t.Fatal(err)
		}
		runPort(t, python, script, "replay", res.Checkpoint, filepath.Join(res.Checkpoint, "eval_all_preds.0.safetensors"))
	}
}
