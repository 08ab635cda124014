package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyrecursion/trm/internal/fakecuda"
	"github.com/tinyrecursion/trm/kernels/cuda"
	"github.com/tinyrecursion/trm/train"
)

// The tests run the trm binary itself, as a user does: exit statuses,
// messages, signals and leftovers on disk are what they check.

var trmBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trm-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	trmBin = filepath.Join(dir, "trm")
	build := exec.Command("go", "build", "-o", trmBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building trm: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// trm runs the binary with args in dir and returns its exit status and
// output.
func trm(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(trmBin, args...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// want fails unless r exited with code and its stderr holds every part.
func (r result) want(t *testing.T, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr lacks %q:\n%s", p, r.stderr)
		}
	}
}

// wantOnly fails unless dir holds exactly the names given: no output that
// looks complete, no hidden staging directory left behind.
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	if strings.Join(have, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %v, want %v", dir, have, names)
	}
}

func buildSudoku(t *testing.T, dir, out string, generate, aug int) {
	t.Helper()
	trm(t, dir, "build", "sudoku", "-q", "--generate", fmt.Sprint(generate), "--aug", fmt.Sprint(aug), "--out", out).want(t, 0)
}

func TestCLIBuildVerifyInspect(t *testing.T) {
	dir := t.TempDir()
	buildSudoku(t, dir, "ds", 20, 3)
	if r := trm(t, dir, "verify", "ds"); r.code != 0 || !strings.Contains(r.stdout, "100 rows verified") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := trm(t, dir, "inspect", "ds"); r.code != 0 || !strings.Contains(r.stdout, "train") || !strings.Contains(r.stdout, "80") {
		t.Errorf("inspect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCLIShow draws one row as text (no terminal: no colours) and as a
// PNG of the input and label side by side.
func TestCLIShow(t *testing.T) {
	dir := t.TempDir()
	buildSudoku(t, dir, "ds", 20, 3)
	r := trm(t, dir, "show", "ds", "--split", "train", "--row", "5")
	r.want(t, 0)
	if !strings.HasPrefix(r.stdout, "train row 5: group 1, puzzle 5, ") || strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("show: header or colours wrong:\n%s", r.stdout)
	}
	// Input and label: 9 rows each of 9 cells in three boxes, two rules.
	if n := strings.Count(r.stdout, " | "); n != 2*9*2 {
		t.Errorf("show: %d box separators, want %d:\n%s", n, 2*9*2, r.stdout)
	}
	label := r.stdout[strings.Index(r.stdout, "label:"):]
	if strings.Contains(label, ".") {
		t.Errorf("show: the label of a Sudoku has no blanks:\n%s", label)
	}

	r = trm(t, dir, "show", "ds", "--split", "train", "--row", "5", "--png", "row5.png")
	r.want(t, 0)
	f, err := os.Open(filepath.Join(dir, "row5.png"))
	must(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	must(t, err)
	if cfg.Width != 2*9*16+16 || cfg.Height != 9*16 {
		t.Errorf("show --png: %dx%d picture, want two 9x9 grids of 16-pixel cells", cfg.Width, cfg.Height)
	}
}

func TestCLIHelp(t *testing.T) {
	// A bare trm lists the commands; --help on a command lists its flags.
	if r := trm(t, t.TempDir()); r.code != 0 || !strings.Contains(r.stdout, "build") || !strings.Contains(r.stdout, "verify") {
		t.Errorf("bare trm: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := trm(t, t.TempDir(), "build", "sudoku", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--aug") {
		t.Errorf("trm build sudoku --help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	buildSudoku(t, dir, "ds", 20, 0)
	bad := filepath.Join(dir, "bad")
	csv := "source,question,answer,rating\nx," + strings.Repeat(".", 81) + "," + strings.Repeat("1", 80) + ",0\n"
	must(t, os.Mkdir(bad, 0o755))
	for _, f := range []string{"train.csv", "test.csv"} {
		must(t, os.WriteFile(filepath.Join(bad, f), []byte(csv), 0o644))
	}
	// A shard with one byte changed.
	shard := filepath.Join(dir, "corrupt", "train", "part-00000.parquet")
	must(t, os.CopyFS(filepath.Join(dir, "corrupt"), os.DirFS(filepath.Join(dir, "ds"))))
	data, err := os.ReadFile(shard)
	must(t, err)
	data[len(data)/2] ^= 1
	must(t, os.WriteFile(shard, data, 0o644))

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  []string
	}{
		{"missing input", []string{"build", "sudoku", "nowhere", "--out", "o"}, 80, []string{"nowhere", "no such file"}},
		{"unknown flag", []string{"build", "sudoku", "--bogus", "--out", "o"}, 80, []string{"unknown flag --bogus"}},
		{"malformed CSV", []string{"build", "sudoku", "bad", "--out", "o"}, 1, []string{filepath.Join(bad, "train.csv") + ":2: answer: 80 characters, want 81"}},
		{"corrupt shard", []string{"verify", "corrupt"}, 1, []string{"part-00000.parquet", "sha256"}},
		{"row out of range", []string{"show", "ds", "--split", "train", "--row", "20"}, 1, []string{"rows 0..19, not 20"}},
		{"not a dataset", []string{"export", "npy", "bad", "o"}, 1, []string{"not a trm dataset", "manifest.json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := trm(t, dir, c.args...)
			r.want(t, c.code, c.msg...)
			// A command line kong refuses gets the short usage, not pages of flags.
			if help := `Run "trm build sudoku --help"`; c.code == 80 && (!strings.Contains(r.stdout, help) || len(r.stdout) > 200) {
				t.Errorf("usage error: stdout is not the short usage:\n%s", r.stdout)
			}
		})
	}
	wantOnly(t, dir, "bad", "corrupt", "ds")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// trmLimited runs trm with args in dir under a file-size limit of 100
// blocks (at least 51 KB: metadata fits, tokens do not). A full disk fails
// the same writes, with ENOSPC instead of EFBIG; the limit needs no
// privileges.
func trmLimited(t *testing.T, dir string, args ...string) result {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to set a file-size limit with ulimit")
	}
	cmd := exec.Command(sh, append([]string{"-c", `ulimit -f 100 && exec "$0" "$@"`, trmBin}, args...)...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

// TestCLIFileSizeLimit: every command that writes fails naming the file it
// could not write, and leaves nothing behind.
func TestCLIFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	buildSudoku(t, dir, "ds", 100, 100)
	trm(t, dir, "export", "npy", "-q", "ds", "npy").want(t, 0)
	for _, c := range []struct {
		args []string
		file string
	}{
		{[]string{"build", "sudoku", "--generate", "100", "--aug", "100", "--out", "out"}, "out/train/part-00000.parquet"},
		{[]string{"export", "npy", "ds", "out"}, "out/train/all__inputs.npy"},
		{[]string{"export", "arrow", "ds", "out"}, "out/train.arrow"},
		{[]string{"generate", "sudoku", "--count", "1000", "--out", "out.csv"}, "out.csv"},
		{[]string{"import", "npy", "npy", "out"}, "out/train/part-00000.parquet"},
	} {
		t.Run(c.args[0]+" "+c.args[1], func(t *testing.T) {
			trmLimited(t, dir, append([]string{"-q"}, c.args...)...).want(t, 1, "write "+filepath.Join(dir, c.file)+": file too large")
			wantOnly(t, dir, "ds", "npy")
		})
	}
}

// TestCLICheckpointFileSizeLimit: a checkpoint that cannot be written
// fails the run naming the file, and leaves no partial checkpoint.
func TestCLICheckpointFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	buildSudoku(t, dir, "ds", 50, 0)
	run := filepath.Join(dir, "run")
	trmLimited(t, dir, append([]string{"train", "-q", "--stop-at", "1"}, tinyTrain("ds", run)...)...).
		want(t, 1, "write "+filepath.Join(run, "step_1")+"/", ": file too large")
	wantOnly(t, run, "config.yaml", "metrics.jsonl")
}

// tinyTrain are the overrides of a model small enough to train in seconds.
func tinyTrain(data, run string) []string {
	return []string{"data_paths=[" + data + "]", "evaluators=[]", "checkpoint_path=" + run,
		"arch.hidden_size=32", "arch.num_heads=2", "arch.L_layers=1", "arch.H_cycles=2", "arch.L_cycles=2",
		"arch.halt_max_steps=4", "arch.puzzle_emb_ndim=32", "global_batch_size=16", "epochs=100000", "eval_interval=100000"}
}

// interrupt starts trm with args in dir, sends SIGINT once ready reports
// true (polled), and returns how it ended.
func interrupt(t *testing.T, dir string, ready func() bool, args ...string) result {
	t.Helper()
	cmd := exec.Command(trmBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case err := <-done:
			t.Fatalf("%v ended (%v) before it could be interrupted\n%s", args, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%v: never ready to interrupt\n%s", args, stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v still running a minute after Ctrl-C", args)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

func TestCLIInterruptBuild(t *testing.T) {
	dir := t.TempDir()
	staging := func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, ".out.partial-*", "train", "part-*.parquet"))
		return len(m) > 0
	}
	// Big enough to take tens of seconds: interrupted while writing shards.
	interrupt(t, dir, staging, "build", "sudoku", "-q", "--generate", "1000", "--aug", "10000", "--out", "out").
		want(t, exitInterrupted, "trm: interrupted")
	wantOnly(t, dir)
}

func TestCLIInterruptTrain(t *testing.T) {
	dir := t.TempDir()
	trm(t, dir, "build", "maze", "-q", "--generate", "64", "--generate-test", "16", "--size", "7", "--aug", "--out", "maze").want(t, 0)
	run := filepath.Join(dir, "run")
	started := func() bool {
		_, err := os.Stat(filepath.Join(run, "config.yaml"))
		return err == nil
	}
	r := interrupt(t, dir, started, append([]string{"train", "-q"}, tinyTrain("maze", run)...)...)
	r.want(t, exitInterrupted, "continue with: trm train --resume "+run, "trm: interrupted")
	// The checkpoint it saved on the way out resumes.
	steps, _ := filepath.Glob(filepath.Join(run, "step_*", "checkpoint.json"))
	if len(steps) != 1 {
		t.Fatalf("checkpoints after Ctrl-C: %v", steps)
	}
	var step int
	if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(steps[0])), "step_%d", &step); err != nil {
		t.Fatal(err)
	}
	trm(t, dir, "train", "-q", "--resume", run, "--stop-at", fmt.Sprint(step+1)).want(t, 0, fmt.Sprintf("resumed %s at step %d", filepath.Dir(steps[0]), step),
		"backend cpu-float32/")
}

// TestCLIGPUOnFakeDriver runs the GPU commands against internal/fakecuda's
// driver (host memory behind the CUDA driver and cuBLAS entry points, the
// kernels compiled for the host): `bench loader --gpu` gathers batches into
// the driver's pinned memory and copies each to the device, and `gpu check`
// passes every check that needs no timing.
func TestCLIGPUOnFakeDriver(t *testing.T) {
	if _, err := cuda.LoadNVRTC(0); err != nil {
		t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2): %v", err)
	}
	srcs, err := cuda.Sources()
	must(t, err)
	kernels := make([]fakecuda.Source, len(srcs))
	for i, s := range srcs {
		kernels[i] = fakecuda.Source{Name: s.Name, Code: s.Code, Kernels: s.Kernels}
	}
	lib := t.TempDir()
	err = fakecuda.Build(lib, fakecuda.Options{Kernels: kernels})
	if errors.Is(err, fakecuda.ErrNoCompiler) {
		t.Skip(err)
	}
	must(t, err)
	run := func(args ...string) result {
		cmd := exec.Command(trmBin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+lib, "XDG_CACHE_HOME="+t.TempDir())
		return runCmd(t, cmd)
	}

	r := run("bench", "loader", "--gpu", "--arc-rows", "2000", "--sudoku-rows", "20000", "--batch", "64", "--batches", "5", "--rounds", "1")
	r.want(t, 0)
	if !strings.Contains(r.stdout, "GPU: trm fake GPU (host memory)") || strings.Count(r.stdout, "rows)  cache -> GPU") != 2 ||
		strings.Count(r.stdout, "rows)     copy only") != 2 {
		t.Errorf("bench loader --gpu output lacks the device or its measurements (loader to GPU, copy alone) for both sets:\n%s", r.stdout)
	}

	r = run("gpu", "check", "--no-bench")
	r.want(t, 0)
	for _, want := range []string{"Device 0: trm fake GPU (host memory)", "Kernels against the CPU reference", "GEMM against the CPU reference"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("gpu check output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "FAIL") {
		t.Errorf("gpu check on the fake with its kernels failed a check:\n%s", r.stdout)
	}

	// `trm bench train device=cuda` measures the GPU backend (tiny: the
	// kernels run emulated) and says which backend it timed: with the
	// reference's forward_dtype, bfloat16, its GEMMs take bf16 inputs.
	r = run("bench", "train", "device=cuda", "arch.hidden_size=16", "arch.num_heads=2", "global_batch_size=2", "arch.H_cycles=1",
		"arch.L_cycles=1", "arch.L_layers=1", "arch.halt_max_steps=2", "--variants", "attention", "--steps", "1", "--rounds", "1", "--torch", "")
	r.want(t, 0)
	for _, want := range []string{"trm's backend: cuda-float32, bf16 GEMMs (trm fake GPU", "trm model step (baseline)", "evaluation rollout", "GEMM 194x512x16"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench train device=cuda output lacks %q:\n%s", want, r.stdout)
		}
	}

	// `trm train device=cuda arch.forward_dtype=float32` takes the same
	// steps as the CPU, to float32 rounding: the losses of every step agree
	// (the last override wins, so device=cpu after device=cuda trains on
	// the CPU). TF32 and bf16 GEMMs take the first step to their precision.
	dir := t.TempDir()
	trm(t, dir, "build", "maze", "-q", "--generate", "32", "--generate-test", "8", "--size", "7", "--out", "maze").want(t, 0)
	losses := map[string][]float64{}
	for _, dev := range []struct{ name, override, backend string }{
		{"cpu", "device=cpu", "backend cpu-float32/"},
		{"cuda", "arch.forward_dtype=float32", "backend cuda-float32 (trm fake GPU"},
		{"tf32", "gpu_tf32=True", "backend cuda-float32, TF32 GEMMs (trm fake GPU"},
		{"bf16", "arch.forward_dtype=bfloat16", "backend cuda-float32, bf16 GEMMs (trm fake GPU"},
	} {
		runDir := filepath.Join(dir, "run-"+dev.name)
		// Small, as the kernels run emulated: a batch of 4 with a 2-token
		// prefix, at the full learning rate from the first step; up to 8
		// ACT steps, so that rows carry their state past the resumption
		// below.
		args := append([]string{"train", "-q", "--stop-at", "4", "device=cuda", dev.override}, tinyTrain("maze", runDir)...)
		cmd := exec.Command(trmBin, append(args, "global_batch_size=4", "arch.puzzle_emb_len=2", "lr=1e-3", "lr_warmup_steps=0",
			"arch.halt_max_steps=8")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+lib, "XDG_CACHE_HOME="+t.TempDir())
		r := runCmd(t, cmd)
		r.want(t, 0, dev.backend)
		recs, err := train.ReadMetrics(filepath.Join(runDir, "metrics.jsonl"))
		must(t, err)
		for _, rec := range recs {
			if l, ok := rec["train/lm_loss"]; ok {
				losses[dev.name] = append(losses[dev.name], l)
			}
		}
	}
	// TF32 and bf16 products: the first step's loss to their precision,
	// not fp32's, nor each other's.
	t.Logf("step 1 lm_loss: CPU %.7g, GPU fp32 %.7g, TF32 %.7g, bf16 %.7g", losses["cpu"][0], losses["cuda"][0], losses["tf32"][0], losses["bf16"][0])
	for mode, tol := range map[string]float64{"tf32": 5e-3, "bf16": 2e-2} {
		if got, want := losses[mode][0], losses["cpu"][0]; math.Abs(got-want) > tol*want || got == losses["cuda"][0] {
			t.Errorf("step 1: lm_loss %.7g with %s GEMMs, %.7g on the CPU, %.7g in fp32 on the GPU", got, mode, want, losses["cuda"][0])
		}
	}
	if losses["tf32"][0] == losses["bf16"][0] {
		t.Errorf("step 1: lm_loss %.7g with TF32 GEMMs and with bf16", losses["tf32"][0])
	}
	if len(losses["cpu"]) != 4 || len(losses["cuda"]) != 4 {
		t.Fatalf("losses logged: %v", losses)
	}
	for i, want := range losses["cpu"] {
		if got := losses["cuda"][i]; math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("step %d: lm_loss %.7g with device=cuda, %.7g with device=cpu", i+1, got, want)
		}
	}

	// Each run evaluated on its own device: the GPU run's checkpoint holds
	// its trained weights (fetched from the device before writing) and eval
	// sends them back (a stale copy either way would evaluate other
	// weights); then both runs resume for two more steps on their device.
	// The tolerance allows for the optimisers' sign drift over the steps
	// (kernels/cuda's trainsAsTheCPU says why). On the GPU the resumed
	// steps must equal those of a run that was never interrupted, bit for
	// bit: the restored weights, moments and carry all reached the device.
	evals := map[string]map[string]float64{}
	for _, dev := range []string{"cpu", "cuda"} {
		env := append(os.Environ(), "LD_LIBRARY_PATH="+lib, "XDG_CACHE_HOME="+t.TempDir())
		cmd := exec.Command(trmBin, "eval", "--checkpoint", filepath.Join(dir, "run-"+dev), "device="+dev)
		cmd.Dir, cmd.Env = dir, env
		r := runCmd(t, cmd)
		r.want(t, 0)
		if want := map[string]string{"cpu": "backend cpu-float32/", "cuda": "backend cuda-float32 (trm fake GPU"}[dev]; !strings.Contains(r.stdout, want) {
			t.Errorf("eval device=%s output lacks %q:\n%s", dev, want, r.stdout)
		}
		evals[dev] = map[string]float64{}
		for _, line := range strings.Split(r.stdout, "\n") {
			var k string
			var v float64
			if n, _ := fmt.Sscanf(line, "  %s %g", &k, &v); n == 2 {
				evals[dev][k] = v
			}
		}
		cmd = exec.Command(trmBin, "train", "-q", "--resume", filepath.Join(dir, "run-"+dev), "--stop-at", "6")
		cmd.Dir, cmd.Env = dir, env
		runCmd(t, cmd).want(t, 0)
		recs, err := train.ReadMetrics(filepath.Join(dir, "run-"+dev, "metrics.jsonl"))
		must(t, err)
		for _, rec := range recs[4:] {
			losses[dev] = append(losses[dev], rec["train/lm_loss"])
		}
	}
	whole := filepath.Join(dir, "run-cuda-whole")
	cmd := exec.Command(trmBin, append(append([]string{"train", "-q", "--stop-at", "6", "device=cuda", "arch.forward_dtype=float32"}, tinyTrain("maze", whole)...),
		"global_batch_size=4", "arch.puzzle_emb_len=2", "lr=1e-3", "lr_warmup_steps=0", "arch.halt_max_steps=8")...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "LD_LIBRARY_PATH="+lib, "XDG_CACHE_HOME="+t.TempDir())
	runCmd(t, cmd).want(t, 0)
	recs, err := train.ReadMetrics(filepath.Join(whole, "metrics.jsonl"))
	must(t, err)
	var wholeLosses []float64
	for _, rec := range recs {
		wholeLosses = append(wholeLosses, rec["train/lm_loss"])
	}
	if !slices.Equal(wholeLosses, losses["cuda"]) {
		t.Errorf("device=cuda, interrupted after step 4 and resumed: losses %v; uninterrupted: %v", losses["cuda"], wholeLosses)
	}
	if len(evals["cpu"]) == 0 || len(evals["cpu"]) != len(evals["cuda"]) {
		t.Errorf("eval metrics: cpu %v, cuda %v", evals["cpu"], evals["cuda"])
	}
	for k, want := range evals["cpu"] {
		if got := evals["cuda"][k]; math.Abs(got-want) > 5e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("eval %s: %.7g for the run on the GPU, %.7g for the run on the CPU", k, got, want)
		}
	}
	if len(losses["cpu"]) != 6 || len(losses["cuda"]) != 6 {
		t.Fatalf("losses after resuming: %v", losses)
	}
	for i := 4; i < 6; i++ {
		if got, want := losses["cuda"][i], losses["cpu"][i]; math.Abs(got-want) > 5e-3*want {
			t.Errorf("step %d, resumed: lm_loss %.7g with device=cuda, %.7g with device=cpu", i+1, got, want)
		}
	}

	// A job of two processes on the GPU, started as torchrun starts them
	// (both ranks on GPU 0, which they may share), takes the single GPU
	// process's steps: the gradients summed on the host reach each rank's
	// device before its optimisers step.
	jobLosses := map[int][]float64{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	for _, ranks := range []int{1, 2} {
		runDir := filepath.Join(dir, fmt.Sprintf("job-%d", ranks))
		args := append(append([]string{"train", "-q", "--stop-at", "3", "device=cuda", "arch.forward_dtype=float32"}, tinyTrain("maze", runDir)...),
			"global_batch_size=4", "lr=1e-3", "lr_warmup_steps=0", "arch.halt_exploration_prob=0")
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for r := range ranks {
			cmd := exec.Command(trmBin, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+lib, "XDG_CACHE_HOME="+t.TempDir())
			if ranks > 1 {
				cmd.Env = append(cmd.Env, "WORLD_SIZE=2", fmt.Sprintf("RANK=%d", r), "LOCAL_RANK=0", "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+port)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			cmds, outs = append(cmds, cmd), append(outs, &out)
		}
		for r, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("rank %d of %d on the GPU: %v\n%s", r, ranks, err, outs[r])
			}
		}
		recs, err := train.ReadMetrics(filepath.Join(runDir, "metrics.jsonl"))
		must(t, err)
		for _, rec := range recs {
			jobLosses[ranks] = append(jobLosses[ranks], rec["train/lm_loss"])
		}
	}
	if len(jobLosses[1]) != 3 || len(jobLosses[2]) != 3 {
		t.Fatalf("losses of the GPU runs: %v", jobLosses)
	}
	t.Logf("lm_loss on the GPU, one process %v, a job of two %v", jobLosses[1], jobLosses[2])
	for i, want := range jobLosses[1] {
		if got := jobLosses[2][i]; math.Abs(got-want) > 1e-5*want {
			t.Errorf("step %d: lm_loss %.9g in a job of two on the GPU, %.9g in one GPU process", i+1, got, want)
		}
	}
}

// TestCLITrainDeviceWithoutGPU: device=cuda on a machine without a GPU
// fails before training, saying why and what to use; device=auto trains on
// the CPU and says so; an unknown device is refused.
func TestCLITrainDeviceWithoutGPU(t *testing.T) {
	if c, err := cuda.Open(cuda.Options{}); err == nil {
		c.Close()
		t.Skip("this machine has a GPU")
	}
	dir := t.TempDir()
	trm(t, dir, "build", "maze", "-q", "--generate", "16", "--generate-test", "4", "--size", "7", "--out", "maze").want(t, 0)
	trainOn := func(dev, run string) result {
		return trm(t, dir, append([]string{"train", "-q", "--stop-at", "1", "device=" + dev}, tinyTrain("maze", filepath.Join(dir, run))...)...)
	}
	trainOn("cuda", "run-cuda").want(t, 1, "device=cuda: no usable CUDA GPU", "device=cpu trains on the CPU")
	wantOnly(t, dir, "maze")
	trainOn("auto", "run-auto").want(t, 0, "device=auto: no GPU backend, training on the CPU", "backend cpu-float32/")
	trainOn("tpu", "run-tpu").want(t, 1, `device = "tpu"; known: cpu, cuda, auto`)
}

// TestCLIDataParallel trains a job of two processes with --nproc: it logs
// once, checkpoints every rank's state, resumes only with as many
// processes, and stops cleanly on a Ctrl-C sent to the launcher alone.
func TestCLIDataParallel(t *testing.T) {
	dir := t.TempDir()
	trm(t, dir, "build", "maze", "-q", "--generate", "64", "--generate-test", "16", "--size", "7", "--out", "maze").want(t, 0)
	run := filepath.Join(dir, "run")
	args := append([]string{"train", "-q", "--nproc", "2"}, tinyTrain("maze", run)...)
	args = append(args, "epochs=2", "eval_interval=2")
	r := trm(t, dir, append(args, "--stop-at", "3")...)
	r.want(t, 0, "2 processes of 8 rows each", "continue with: trm train --nproc 2 --resume "+run)
	if n := strings.Count(r.stdout, "global_batch_size:"); n != 1 {
		t.Errorf("the configuration printed %d times, want once:\n%s", n, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(run, "step_3", "train_state.rank1.safetensors")); err != nil {
		t.Errorf("rank 1's state: %v", err)
	}
	trm(t, dir, "train", "-q", "--resume", run).want(t, 1, "written by a job of 2 processes", "--nproc 2")
	trm(t, dir, "train", "-q", "--nproc", "2", "--resume", run).want(t, 0, "resumed "+filepath.Join(run, "step_3")+" at step 3")
	recs, err := train.ReadMetrics(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 { // 8 steps and the evaluation at the end
		t.Errorf("%d metrics records, want 9", len(recs))
	}
	// trm eval as a job of two prints one process's metrics (to the
	// rounding of float32 sums per batch), once.
	one, two := trm(t, dir, "eval", "--checkpoint", run), trm(t, dir, "eval", "--nproc", "2", "--checkpoint", run)
	one.want(t, 0)
	two.want(t, 0)
	metrics := func(out string) map[string]float64 {
		m := map[string]float64{}
		for _, line := range strings.Split(out, "\n") {
			var k string
			var v float64
			if n, _ := fmt.Sscanf(line, "  %s %g", &k, &v); n == 2 {
				m[k] = v
			}
		}
		return m
	}
	m1, m2 := metrics(one.stdout), metrics(two.stdout)
	if m1["all/count"] != 16 || len(m1) != len(m2) || strings.Count(two.stdout, "all/count") != 1 {
		t.Errorf("trm eval: one process\n%s\na job of two\n%s", one.stdout, two.stdout)
	}
	for k, v := range m1 {
		if math.Abs(m2[k]-v) > 1e-5*math.Max(1, math.Abs(v)) {
			t.Errorf("trm eval %s: %v in a job of two, %v in one process", k, m2[k], v)
		}
	}

	// Ctrl-C reaches the launcher only: it passes it on, and both ranks
	// stop after the same step with one checkpoint.
	long := filepath.Join(dir, "long")
	started := func() bool {
		_, err := os.Stat(filepath.Join(long, "config.yaml"))
		return err == nil
	}
	interrupt(t, dir, started, append([]string{"train", "-q", "--nproc", "2"}, tinyTrain("maze", long)...)...).
		want(t, exitInterrupted, "continue with: trm train --nproc 2 --resume "+long, "trm: interrupted")
	steps, _ := filepath.Glob(filepath.Join(long, "step_*", "train_state.rank1.safetensors"))
	if len(steps) != 1 {
		t.Errorf("checkpoints after Ctrl-C: %v", steps)
	}
	trm(t, dir, "train", "--nproc", "0").want(t, 1, "--nproc 0")
}
