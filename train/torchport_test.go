package train

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTorchPortReproducesGolden runs the PyTorch re-implementation that
// trm bench train measures beside trm against the reference's numeric
// golden: a baseline that computed something else would make the
// comparison meaningless. It needs Debian's python3-torch.
func TestTorchPortReproducesGolden(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-torch installs
	if testing.Short() {
		t.Skip("-short: skipping the PyTorch run")
	}
	if out, err := exec.Command(python, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch and numpy (install python3-torch to run this check): %v: %s", python, err, strings.TrimSpace(string(out)))
	}
	script := "../benchmarks/train/torch_trm.py"
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, "check", "../model/testdata/model-golden.json").CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s check: %v", script, err)
	}
	if !strings.Contains(string(out), "OK: every quantity") {
		t.Fatalf("%s check printed no OK line", script)
	}
}
