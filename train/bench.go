package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tinyrecursion/trm/internal/procstat"
	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cuda"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
)

// BenchDefaults is the model trm bench train measures unless overridden:
// the small Sudoku configuration (hidden 128, 4 heads, 2 layers, H_cycles
// 3, L_cycles 6, batch 64), small enough for a few CPU steps a second.
var BenchDefaults = []string{"arch.hidden_size=128", "arch.num_heads=4", "arch.L_layers=2",
	"arch.H_cycles=3", "arch.L_cycles=6", "global_batch_size=64"}

// BenchVariants are the model variants trm bench train knows: the
// reference's attention with rotary positions, and its MLP-over-tokens
// Sudoku variant without positional encodings.
var BenchVariants = map[string][]string{
	"attention": {"arch.mlp_t=False", "arch.pos_encodings=rope"},
	"mlp_t":     {"arch.mlp_t=True", "arch.pos_encodings=none"},
}

// BenchConfig configures Bench.
type BenchConfig struct {
	// Data is the dataset to train on ("": a generated Sudoku-shaped one).
	Data string
	// Dir holds the generated dataset and the runs; the caller removes it.
	Dir string
	// Variants are keys of BenchVariants, measured in this order.
	Variants []string
	// Overrides apply over BenchDefaults, reference syntax (key=value).
	Overrides []string
	// Steps are timed per round and measurement, after one warm-up step;
	// Rounds interleave the measurements, and the best round of each is
	// reported.
	Steps, Rounds int
	// Torch is the PyTorch re-implementation's script
	// (benchmarks/train/torch_trm.py), run with Python ("": not measured).
	Torch, Python string
}

// BenchResult is one measurement of Bench: its best round.
type BenchResult struct {
	Variant, Name string
	// StepSeconds is the wall time of one step: a training step, an
	// evaluation rollout of one batch, or one GEMM call.
	StepSeconds float64
	// CPUSeconds is process CPU time per step (0: not measured).
	CPUSeconds     float64
	ExamplesPerSec float64 // 0 for the GEMM
	GFLOPs         float64
	// Ratio is examples/s against the model-step baseline of the same
	// variant; for the GEMM, the baseline's GFLOP/s against the GEMM's
	// (how much of the backend's best matmul rate the model sustains).
	Ratio float64
	// Skipped says why a measurement was not taken ("" when it was).
	Skipped string
	// Backend names the backend of trm's measurements ("" for PyTorch's).
	Backend string
}

// Measurements of Bench, in the order they are reported.
const (
	benchTrainer = "trm train loop"
	benchModel   = "trm model step (baseline)"
	benchTorch   = "PyTorch"
	benchEval    = "evaluation rollout"
	benchGemm    = "GEMM"
)

// Bench measures training throughput on the backend the device key picks
// (the CPU unless an override says device=cuda): the whole training loop
// (loader, ACT forward, backward, both optimisers, EMA, metrics), the
// model step alone on a fixed batch (the baseline every ratio is against),
// the same step in the PyTorch re-implementation of the reference when
// cfg.Torch is set (on the same GPU with the GPU backend), one evaluation
// rollout (halt_max_steps forward steps, in the first round only), and the
// backend's GEMM on the model's largest matmul shape. The measurements alternate in rounds so that a machine's
// drift reaches all of them alike.
func Bench(ctx context.Context, cfg BenchConfig, log func(format string, args ...any)) (*model.Config, []BenchResult, error) {
	if cfg.Steps < 1 || cfg.Rounds < 1 {
		return nil, nil, fmt.Errorf("steps (%d) and rounds (%d) must be at least 1", cfg.Steps, cfg.Rounds)
	}
	if len(cfg.Variants) == 0 {
		return nil, nil, errors.New("no variant to measure")
	}
	for _, o := range cfg.Overrides {
		if k, _, _ := strings.Cut(o, "="); k == "arch.mlp_t" || k == "arch.pos_encodings" || k == "data_paths" {
			return nil, nil, fmt.Errorf("override %q: the variant sets arch.mlp_t and arch.pos_encodings, --data the data", o)
		}
	}
	data := cfg.Data
	if data == "" {
		data = filepath.Join(cfg.Dir, "sudoku")
		log("generating a Sudoku-shaped dataset in %s", data)
		if err := loader.GenerateBenchDataset(data, loader.BenchSudoku, 64*16, 1); err != nil {
			return nil, nil, err
		}
	}
	var benches []*variantBench
	for _, v := range cfg.Variants {
		vo, ok := BenchVariants[v]
		if !ok {
			return nil, nil, fmt.Errorf("unknown variant %q (known: attention, mlp_t)", v)
		}
		overrides := append([]string{"data_paths=[" + data + "]", "evaluators=[]", "epochs=1000", "eval_interval=1000",
			"ema=True", "keep_checkpoints=1"}, BenchDefaults...)
		overrides = append(append(overrides, vo...), cfg.Overrides...)
		tc, err := LoadConfig("", overrides)
		if err != nil {
			return nil, nil, err
		}
		benches = append(benches, &variantBench{name: v, cfg: tc, log: log, best: map[string]*BenchResult{}})
	}
	defer func() {
		for _, b := range benches {
			b.close()
		}
	}()
	var mc *model.Config
	for round := range cfg.Rounds {
		for _, b := range benches {
			log("round %d of %d: %s", round+1, cfg.Rounds, b.name)
			if err := b.measureTrainer(ctx, filepath.Join(cfg.Dir, fmt.Sprintf("run-%s-%d", b.name, round)), cfg.Steps); err != nil {
				return nil, nil, fmt.Errorf("%s, %s: %w", b.name, benchTrainer, err)
			}
			mc = &b.mc
			if err := b.measureModel(ctx, cfg.Steps); err != nil {
				return nil, nil, fmt.Errorf("%s, %s: %w", b.name, benchModel, err)
			}
			if cfg.Torch != "" {
				b.measureTorch(ctx, cfg.Python, cfg.Torch, cfg.Steps)
			}
			if round == 0 { // halt_max_steps forward steps: long enough to time once
				if err := b.measureEval(ctx); err != nil {
					return nil, nil, fmt.Errorf("%s, %s: %w", b.name, benchEval, err)
				}
			}
			if err := b.measureGemm(); err != nil {
				return nil, nil, fmt.Errorf("%s, %s: %w", b.name, benchGemm, err)
			}
		}
	}
	var out []BenchResult
	for _, b := range benches {
		out = append(out, b.results()...)
	}
	return mc, out, nil
}

// variantBench holds one variant's model, baseline step and best rounds.
type variantBench struct {
	name string
	cfg  *Config
	log  func(format string, args ...any)
	mc   model.Config // the trainer's model configuration

	be      kernels.Backend[float32]
	closeBE func() error
	gpu     bool // be is the GPU backend: PyTorch runs on the GPU too
	m       *model.Model[float32]
	adam    *model.AdamATan2[float32]
	sgd     *model.SignSGD[float32]
	carry   *model.Carry[float32]
	batch   model.Batch

	gemmX, gemmW, gemmY []float32 // operands of the GEMM measurement

	best map[string]*BenchResult
}

func (b *variantBench) close() {
	if b.closeBE != nil {
		b.closeBE()
	}
}

// keep records a round of the measurement key, keeping the fastest; r.Name
// defaults to the key.
func (b *variantBench) keep(key string, r BenchResult) {
	r.Variant = b.name
	if r.Name == "" {
		r.Name = key
	}
	if old := b.best[key]; old == nil || old.Skipped != "" || (r.Skipped == "" && r.StepSeconds < old.StepSeconds) {
		b.best[key] = &r
	}
}

// trainFLOPs is the arithmetic of one training step of the variant.
func (b *variantBench) trainFLOPs() float64 { return b.mc.StepFLOPs(true) }

func (b *variantBench) perStep(wall, cpuTime time.Duration, steps int, flops float64) BenchResult {
	sec := wall.Seconds() / float64(steps)
	return BenchResult{StepSeconds: sec, CPUSeconds: cpuTime.Seconds() / float64(steps),
		ExamplesPerSec: float64(b.mc.BatchSize) / sec, GFLOPs: flops / sec / 1e9}
}

// measureTrainer runs a fresh training run for one warm-up step, then
// times steps more. A step's time is the loop's own: waiting for the
// batch plus the step (the checkpoint written when the run stops is not
// part of it; its CPU time is, and is small beside a step's).
func (b *variantBench) measureTrainer(ctx context.Context, runDir string, steps int) error {
	cfg := *b.cfg
	cfg.CheckpointPath = runDir
	t, err := New(ctx, &cfg, Options{StopAtStep: 1})
	if err != nil {
		return err
	}
	defer t.Close()
	b.mc = t.m.Cfg
	if err := t.Run(ctx); !errors.Is(err, ErrStopped) {
		return fmt.Errorf("warm-up step: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.opts.StopAtStep = 1 + steps
	before := t.TrainTime + t.WaitTime
	cpu0 := procstat.CPUTime()
	if err := t.Run(ctx); !errors.Is(err, ErrStopped) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := b.perStep(t.TrainTime+t.WaitTime-before, procstat.CPUTime()-cpu0, steps, b.trainFLOPs())
	r.Backend = t.be.Name()
	b.keep(benchTrainer, r)
	return nil
}

// measureModel times the model step alone: ACT forward, backward, sign-SGD
// and AdamATan2 on one fixed random batch, as the trainer does them but
// without loader, EMA or metrics.
func (b *variantBench) measureModel(ctx context.Context, steps int) error {
	if b.m == nil {
		var err error
		if b.be, b.closeBE, err = openBackend(b.cfg, 0, b.log); err != nil {
			return err
		}
		_, b.gpu = b.be.(*cuda.Backend)
		if b.m, err = newModel(b.mc, b.be, b.cfg.Seed); err != nil {
			return err
		}
		b.adam = model.NewAdamATan2(b.m, b.cfg.Beta1, b.cfg.Beta2, b.cfg.WeightDecay)
		b.sgd = model.NewSignSGD[float32](b.cfg.PuzzleEmbWeightDecay)
		b.carry = b.m.NewCarry()
		b.batch = randomBatch(b.mc)
		if err := b.modelStep(); err != nil { // the warm-up step fills the scratch pools
			return err
		}
	}
	start, cpu0 := time.Now(), procstat.CPUTime()
	for range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.modelStep(); err != nil {
			return err
		}
	}
	r := b.perStep(time.Since(start), procstat.CPUTime()-cpu0, steps, b.trainFLOPs())
	r.Backend = b.be.Name()
	b.keep(benchModel, r)
	return nil
}

func (b *variantBench) modelStep() error {
	if _, err := b.m.Forward(b.carry, &b.batch, true); err != nil {
		return err
	}
	if err := b.m.Backward(1 / float64(b.mc.BatchSize)); err != nil {
		return err
	}
	if b.mc.PuzzleEmbNdim > 0 {
		if err := b.sgd.Step(b.m, 1e-4); err != nil {
			return err
		}
	}
	b.adam.Step(1e-4)
	return b.be.Err()
}

// randomBatch draws tokens 1..vocab-1 and valid puzzle identifiers, as the
// PyTorch benchmark does.
func randomBatch(mc model.Config) model.Batch {
	rng := rand.New(rand.NewPCG(1, 1))
	n := mc.BatchSize * mc.SeqLen
	b := model.Batch{Inputs: make([]int32, n), Labels: make([]int32, n), PuzzleIdentifiers: make([]int32, mc.BatchSize)}
	for i := range n {
		b.Inputs[i] = int32(1 + rng.IntN(mc.VocabSize-1))
		b.Labels[i] = int32(1 + rng.IntN(mc.VocabSize-1))
	}
	for i := range b.PuzzleIdentifiers {
		if mc.NumPuzzleIdentifiers > 1 {
			b.PuzzleIdentifiers[i] = int32(1 + rng.IntN(mc.NumPuzzleIdentifiers-1))
		}
	}
	return b
}

// measureEval times one evaluation rollout of the baseline's batch: from a
// fresh carry, forward steps until every row halts (halt_max_steps in
// evaluation). Its examples/s against the baseline's is what evaluating an
// example costs beside training on one.
func (b *variantBench) measureEval(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	carry := b.m.NewCarry()
	start, cpu0 := time.Now(), procstat.CPUTime()
	for {
		out, err := b.m.Forward(carry, &b.batch, false)
		if err != nil {
			return err
		}
		if out.AllHalted {
			break
		}
	}
	flops := float64(b.mc.HaltMaxSteps) * b.mc.StepFLOPs(false)
	r := b.perStep(time.Since(start), procstat.CPUTime()-cpu0, 1, flops)
	r.Backend = b.be.Name()
	b.keep(benchEval, r)
	return nil
}

// measureGemm times the backend's GEMM (fp32 operands, multiplied as the
// backend does: the GPU's bf16 or TF32 modes) on the model's largest
// matmul, the SwiGLU gate-and-up projection of every token ([batch·tokens,
// hidden] by [hidden, 2·intermediate]), for about a quarter of a second.
// Each call is waited for (Err), as the GPU backend returns before its
// kernels finish.
func (b *variantBench) measureGemm() error {
	rows, k, n := b.mc.BatchSize*b.mc.TotalLen(), b.mc.HiddenSize, 2*b.mc.Intermediate()
	if b.gemmX == nil { // backend buffers live as long as the backend: allocate once
		b.gemmX, b.gemmW, b.gemmY = b.be.Alloc(rows*k), b.be.Alloc(n*k), b.be.Alloc(rows*n)
		rng := rand.New(rand.NewPCG(2, 2))
		for i := range b.gemmX {
			b.gemmX[i] = rng.Float32() - 0.5
		}
		for i := range b.gemmW {
			b.gemmW[i] = rng.Float32() - 0.5
		}
		b.be.ToDevice(b.gemmX)
		b.be.ToDevice(b.gemmW)
	}
	gemm := func() error {
		b.be.Gemm(false, true, rows, n, k, 1, b.gemmX, k, b.gemmW, k, 0, b.gemmY, n)
		return b.be.Err()
	}
	if err := gemm(); err != nil {
		return err
	}
	calls, start, cpu0 := 0, time.Now(), procstat.CPUTime()
	for time.Since(start) < 250*time.Millisecond {
		if err := gemm(); err != nil {
			return err
		}
		calls++
	}
	sec := time.Since(start).Seconds() / float64(calls)
	b.keep(benchGemm, BenchResult{Name: fmt.Sprintf("%s %dx%dx%d", benchGemm, rows, n, k), StepSeconds: sec,
		CPUSeconds: (procstat.CPUTime() - cpu0).Seconds() / float64(calls), GFLOPs: 2 * float64(rows*n*k) / sec / 1e9,
		Backend: b.be.Name()})
	return nil
}

// torchStep is the JSON line benchmarks/train/torch_trm.py bench prints.
type torchStep struct {
	Torch       string  `json:"torch"`
	BLAS        string  `json:"blas"`
	Threads     int     `json:"threads"`
	MsPerStep   float64 `json:"ms_per_step"`
	CPUSPerStep float64 `json:"cpu_s_per_step"`
	Params      int     `json:"params"`
}

// measureTorch runs the PyTorch re-implementation of the reference on the
// same configuration, with as many threads as the Go backend has cores
// (BLAS libraries included: they read their own variables). Its parameter
// count must equal the Go model's, a check that both time the same
// network. A missing Python, PyTorch or script is reported, not fatal: the
// Go measurements stand on their own.
func (b *variantBench) measureTorch(ctx context.Context, python, script string, steps int) {
	skip := func(why string) { b.keep(benchTorch, BenchResult{Skipped: why}) }
	if _, err := os.Stat(script); err != nil {
		skip(fmt.Sprintf("%s not found (run from the repository root, or pass --torch PATH)", script))
		return
	}
	mc := b.mc
	threads := strconv.Itoa(runtime.GOMAXPROCS(0))
	variant := "attention"
	if mc.MLPT {
		variant = "mlp_t"
	}
	args := []string{script, "bench", "--variant", variant, "--steps", strconv.Itoa(steps), "--warmup", "1",
		"--threads", threads, "--seed", "0",
		"--hidden", strconv.Itoa(mc.HiddenSize), "--heads", strconv.Itoa(mc.NumHeads), "--layers", strconv.Itoa(mc.LLayers),
		"--H-cycles", strconv.Itoa(mc.HCycles), "--L-cycles", strconv.Itoa(mc.LCycles), "--batch", strconv.Itoa(mc.BatchSize),
		"--seq-len", strconv.Itoa(mc.SeqLen), "--vocab", strconv.Itoa(mc.VocabSize), "--puzzle-emb-len", strconv.Itoa(mc.PrefixLen()),
		"--identifiers", strconv.Itoa(mc.NumPuzzleIdentifiers), "--halt-max-steps", strconv.Itoa(mc.HaltMaxSteps),
		"--expansion", strconv.FormatFloat(mc.Expansion, 'g', -1, 64)}
	if b.gpu {
		// PyTorch multiplies as trm's backend does: fp32, TF32, or bf16
		// (autocast), so that the two run the same arithmetic.
		args = append(args, "--device", "cuda", "--matmul", gemmMath(b.cfg).String())
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS="+threads, "OMP_NUM_THREADS="+threads, "MKL_NUM_THREADS="+threads)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		skip(fmt.Sprintf("%s %s: %v: %s", python, script, err, msg))
		return
	}
	var r torchStep
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil || r.MsPerStep <= 0 {
		skip(fmt.Sprintf("%s printed no result line (%v): %q", script, err, stdout.String()))
		return
	}
	if r.Params != len(b.m.Params) {
		skip(fmt.Sprintf("its model has %d parameters, trm's %d: not the same network", r.Params, len(b.m.Params)))
		return
	}
	sec := r.MsPerStep / 1e3
	b.keep(benchTorch, BenchResult{Name: fmt.Sprintf("PyTorch %s (%s), %d threads", r.Torch, r.BLAS, r.Threads), StepSeconds: sec, CPUSeconds: r.CPUSPerStep, ExamplesPerSec: float64(mc.BatchSize) / sec,
		GFLOPs: b.trainFLOPs() / sec / 1e9})
}

// results lists the best rounds in report order with their ratios to the
// model-step baseline.
func (b *variantBench) results() []BenchResult {
	base := b.best[benchModel]
	var out []BenchResult
	add := func(r *BenchResult) {
		if r == nil {
			return
		}
		if r.Skipped == "" && base != nil {
			if r.ExamplesPerSec > 0 {
				r.Ratio = r.ExamplesPerSec / base.ExamplesPerSec
			} else {
				r.Ratio = base.GFLOPs / r.GFLOPs
			}
		}
		out = append(out, *r)
	}
	for _, key := range []string{benchTrainer, benchModel, benchTorch, benchEval, benchGemm} {
		add(b.best[key])
	}
	return out
}
