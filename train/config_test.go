package train

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/kernels/cuda"
)

func TestConfigDefaults(t *testing.T) {
	c, err := LoadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch.PuzzleEmbNdim != 512 || c.Arch.HiddenSize != 512 || c.Arch.LCycles != 6 || c.GlobalBatchSize != 768 ||
		c.LR != 1e-4 || c.PuzzleEmbLR != 1e-2 || c.Epochs != 100000 || c.EMA || len(c.Evaluators) != 1 ||
		c.Device != "cpu" || c.GPUTF32 {
		t.Errorf("defaults: %+v", c)
	}
	c, err = LoadConfig("", []string{"device=cuda", "gpu_tf32=True"})
	if err != nil || c.Device != "cuda" || !c.GPUTF32 {
		t.Errorf("device=cuda gpu_tf32=True: %+v, %v", c, err)
	}
}

// TestGEMMMath: the GPU multiplies as forward_dtype says (bf16 by default,
// the reference's), unless gpu_tf32 asks for TF32.
func TestGEMMMath(t *testing.T) {
	for _, tc := range []struct {
		overrides []string
		want      cuda.Math
	}{
		{nil, cuda.MathBF16},
		{[]string{"arch.forward_dtype=float32"}, cuda.MathFP32},
		{[]string{"gpu_tf32=True"}, cuda.MathTF32},
		{[]string{"arch.forward_dtype=float32", "gpu_tf32=True"}, cuda.MathTF32},
	} {
		c, err := LoadConfig("", tc.overrides)
		if err != nil {
			t.Fatal(err)
		}
		if got := gemmMath(c); got != tc.want {
			t.Errorf("%v: GEMMs in %v, want %v", tc.overrides, got, tc.want)
		}
	}
}

// TestConfigOverrides runs the reference README's sudoku command line.
func TestConfigOverrides(t *testing.T) {
	c, err := LoadConfig("", strings.Fields(`arch=trm data_paths=[data/sudoku-extreme-1k-aug-1000] evaluators=[] epochs=50000 eval_interval=5000 lr=1e-4 puzzle_emb_lr=1e-4 weight_decay=1.0 puzzle_emb_weight_decay=1.0 arch.mlp_t=True arch.pos_encodings=none arch.L_layers=2 arch.H_cycles=3 arch.L_cycles=6 arch.hidden_size=256 +run_name=pretrain_mlp_t_sudoku ema=True`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DataPaths) != 1 || c.DataPaths[0] != "data/sudoku-extreme-1k-aug-1000" || len(c.Evaluators) != 0 ||
		c.Epochs != 50000 || !c.Arch.MLPT || c.Arch.PosEncodings != "none" || c.RunName != "pretrain_mlp_t_sudoku" ||
		!c.EMA || c.WeightDecay != 1 || c.Arch.PuzzleEmbNdim != 256 {
		t.Errorf("resolved: %+v", c)
	}
	if c.TotalIters() != 10 {
		t.Errorf("total iters %d, want 10", c.TotalIters())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ override, want string }{
		{"arch.L_cycels=4", `did you mean "arch.L_cycles"`},
		{"lrr=1", `did you mean "lr"`},
		{"global_batch_size=abc", "wrong type"},
		{"ema=maybe", "wrong type"},
		{"epochs=10", "eval_interval = 10000 must divide epochs = 10"},
		{"novalue", "want key=value"},
		{"device=gpu", `device = "gpu"; known: cpu, cuda, auto`},
		{"gpu_tf32=fast", "wrong type"},
		{"arch.forward_dtype=float16", `arch.forward_dtype = "float16"; known: bfloat16, float32`},
	} {
		_, err := LoadConfig("", []string{tc.override})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.override, err, tc.want)
		}
	}
}

func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("lr: 3e-4\narch:\n  hidden_size: 64\n"), 0o644)
	c, err := LoadConfig(path, []string{"arch.num_heads=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LR != 3e-4 || c.Arch.HiddenSize != 64 || c.Arch.PuzzleEmbNdim != 64 || c.Arch.NumHeads != 2 {
		t.Errorf("resolved: %+v", c)
	}
	os.WriteFile(path, []byte("arch:\n  hiden_size: 64\n"), 0o644)
	if _, err := LoadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "arch.hidden_size") {
		t.Errorf("typo in file: %v", err)
	}
	// The saved form loads back to the same configuration.
	os.WriteFile(path, c.YAML(), 0o644)
	c2, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(c2.YAML()) != string(c.YAML()) {
		t.Errorf("round trip changed the config:\n%s\nvs\n%s", c2.YAML(), c.YAML())
	}
}

func FuzzLoadConfigOverride(f *testing.F) {
	for _, s := range []string{"lr=1e-4", "arch.L_cycles=4", `data_paths="[a,b]"`, "+run_name=x", "ema=True", "x", "=", "arch.loss.loss_type=[1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, o string) {
		c, err := LoadConfig("", []string{o})
		if err != nil {
			return
		}
		checkConfigRoundTrip(t, c)
	})
}

// FuzzLoadConfigFile feeds arbitrary bytes to LoadConfig as a YAML file (a
// user's --config, or a checkpoint's config.yaml): it must not crash, and
// an accepted configuration saves to a config.yaml that loads back to
// itself.
func FuzzLoadConfigFile(f *testing.F) {
	c, err := LoadConfig("", []string{"data_paths=[data/x]", "lr=1e-7", "arch.L_cycles=3", "ema=True"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.YAML())
	f.Add([]byte("arch:\n  L_cycles: ${.H_cycles}\n"))
	f.Add([]byte("lr: [1\n"))
	f.Add([]byte("arch: 3\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("global_batch_size: 99999999999999999999\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path, nil)
		if err != nil {
			return
		}
		checkConfigRoundTrip(t, c)
	})
}

// checkConfigRoundTrip saves c as config.yaml and loads it back: the same
// configuration must come out, as a resumed run relies on.
func checkConfigRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, c.YAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatalf("a saved configuration does not load: %v\n%s", err, c.YAML())
	}
	if !bytes.Equal(back.YAML(), c.YAML()) {
		t.Fatalf("a saved configuration loads as another:\n%s\nvs\n%s", back.YAML(), c.YAML())
	}
}

// TestConfigYAMLExponents: floats in exponent form are saved with a decimal
// point, so YAML 1.1 readers (PyYAML) read numbers, and the saved file
// loads back to the same configuration.
func TestConfigYAMLExponents(t *testing.T) {
	c, err := LoadConfig("", []string{"data_paths=[x]", "lr=1e-7", "puzzle_emb_lr=2.5E-3"})
	if err != nil {
		t.Fatal(err)
	}
	saved := c.YAML()
	for _, want := range []string{"lr: 1.0e-07\n", "rms_norm_eps: 1.0e-05\n", "puzzle_emb_lr: 0.0025\n"} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("saved configuration lacks %q:\n%s", want, saved)
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.YAML(), saved) || back.LR != 1e-7 || back.Arch.RMSNormEps != 1e-5 {
		t.Fatalf("reloaded: lr %v, rms_norm_eps %v\n%s", back.LR, back.Arch.RMSNormEps, back.YAML())
	}
}

// outOfMemory is the CPU backend reporting what a GPU out of memory does.
type outOfMemory struct{ *cpu.Backend[float32] }

func (outOfMemory) Err() error {
	return fmt.Errorf("cuda backend: %w", &cuda.Error{Lib: "cuda", Func: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"})
}

// TestNewModelOutOfMemory: a model that does not fit on the device fails
// saying what to change; other failures pass through as they are.
func TestNewModelOutOfMemory(t *testing.T) {
	c, err := LoadConfig("", []string{"arch.hidden_size=16", "arch.num_heads=2", "global_batch_size=4"})
	if err != nil {
		t.Fatal(err)
	}
	mc := c.ModelConfig(81, 11, 3)
	host := cpu.New32(1)
	defer host.Close()
	_, err = newModel(mc, outOfMemory{host}, 0)
	if err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_OUT_OF_MEMORY") ||
		!strings.Contains(err.Error(), "the model's buffers for 4 rows of 97 positions do not fit: lower global_batch_size, or spread each batch over more GPUs with --nproc") {
		t.Errorf("out of device memory: %v", err)
	}
	mc.HiddenSize = 15 // not divisible by the heads
	if _, err := newModel(mc, host, 0); err == nil || strings.Contains(err.Error(), "global_batch_size") {
		t.Errorf("an invalid model config: %v, want its own error alone", err)
	}
}
