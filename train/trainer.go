package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
)

// Options control a training run beyond its configuration.
type Options struct {
	// Log receives the resolved configuration and one-line notes; Progress
	// the progress bar (nil: none).
	Log, Progress io.Writer
	// StopAtStep ends the run after that many optimiser steps with a
	// checkpoint, as an interruption would (0: run to the end).
	StopAtStep int
}

// Trainer is one training run, on the CPU or GPU backend (Config.Device).
type Trainer struct {
	Cfg *Config
	Dir string // run directory: checkpoints, metrics.jsonl, config.yaml

	opts       Options
	be         kernels.Backend[float32]
	closeBE    func() error
	m          *model.Model[float32]
	adam       *model.AdamATan2[float32]
	sgd        *model.SignSGD[float32]
	ema        *model.EMA[float32]
	carry      *model.Carry[float32]
	trainSrc   *loader.Source
	evalSrc    *loader.Source
	trainL     *loader.Loader
	arcs       []*ARC
	metrics    *metricsLog
	step       int
	totalSteps int
	batch      model.Batch

	// TrainTime and EvalTime are the wall-clock time spent in training
	// steps and in evaluations by this process; WaitTime is the time spent
	// waiting for the loader's next batch (the loader gathers ahead, so it
	// stays near zero unless data is the bottleneck).
	TrainTime, EvalTime, WaitTime time.Duration
}

// ErrStopped is returned by Run when Options.StopAtStep ended the run or
// the context was cancelled; the run has a checkpoint to resume from.
var ErrStopped = errors.New("training stopped; resume with --resume")

// New prepares a fresh run: datasets, model, optimisers, run directory.
// Every check (dataset shape, checkpoint compatibility, configuration)
// happens here, before any training step.
func New(ctx context.Context, cfg *Config, opts Options) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RunName == "" {
		cfg.RunName = "TinyRecursiveReasoningModel_ACTV1-" + time.Now().UTC().Format("20060102-150405")
	}
	t, err := build(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if cfg.LoadCheckpoint != "" {
		if err := loadWeights(cfg.LoadCheckpoint, t.m, true); err != nil {
			t.Close()
			return nil, err
		}
		if t.ema != nil {
			t.be.Copy(t.ema.Shadow, t.m.Params)
		}
	}
	if _, err := os.Stat(filepath.Join(t.Dir, "metrics.jsonl")); err == nil {
		t.Close()
		return nil, fmt.Errorf("run directory %s already holds a run: resume it with --resume %s, or choose another run_name", t.Dir, t.Dir)
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		t.Close()
		return nil, err
	}
	if err := atomicdir.WriteFileAtomic(filepath.Join(t.Dir, "config.yaml"), cfg.YAML()); err != nil {
		t.Close()
		return nil, err
	}
	if t.metrics, err = openMetrics(filepath.Join(t.Dir, "metrics.jsonl"), -1); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// build opens the data and allocates the model and optimisers for cfg.
func build(ctx context.Context, cfg *Config, opts Options) (_ *Trainer, err error) {
	t := &Trainer{Cfg: cfg, Dir: cfg.RunDir(), opts: opts}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.trainSrc, err = loader.Open(ctx, cfg.DataPaths, "train", loader.OpenOptions{}); err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	meta := t.trainSrc.Meta
	t.totalSteps = int(float64(cfg.Epochs) * float64(meta.TotalGroups) * meta.MeanPuzzleExamples / float64(cfg.GlobalBatchSize))
	testPaths := cfg.DataPaths
	if len(cfg.DataPathsTest) > 0 {
		testPaths = cfg.DataPathsTest
	}
	if t.evalSrc, err = loader.Open(ctx, testPaths, "test", loader.OpenOptions{}); err != nil {
		t.logf("no evaluation: %v", err)
		t.evalSrc, err = nil, nil
	}
	if t.evalSrc != nil {
		em, tm := t.evalSrc.Meta, meta
		if em.SeqLen != tm.SeqLen || em.VocabSize != tm.VocabSize {
			return nil, fmt.Errorf("test split has seq_len %d, vocab %d; train split %d, %d", em.SeqLen, em.VocabSize, tm.SeqLen, tm.VocabSize)
		}
		for _, e := range cfg.Evaluators {
			if e.Name != "arc@ARC" || em.SeqLen != 900 {
				continue
			}
			for _, p := range testPaths {
				a, err := NewARC(p, int32(em.BlankIdentifierID))
				if err != nil {
					// The reference silently drops evaluators it cannot build.
					t.logf("no ARC evaluator for %s: %v", p, err)
					continue
				}
				t.arcs = append(t.arcs, a)
			}
		}
	}
	if t.be, t.closeBE, err = openBackend(cfg, t.logf); err != nil {
		return nil, err
	}
	mc := cfg.ModelConfig(meta.SeqLen, meta.VocabSize, meta.NumPuzzleIdentifiers)
	if t.m, err = model.New(mc, t.be, uint64(cfg.Seed)); err != nil {
		return nil, err
	}
	t.adam = model.NewAdamATan2(t.m, cfg.Beta1, cfg.Beta2, cfg.WeightDecay)
	t.sgd = model.NewSignSGD[float32](cfg.PuzzleEmbWeightDecay)
	if cfg.EMA {
		t.ema = model.NewEMA(t.m, cfg.EMARate)
	}
	t.carry = t.m.NewCarry()
	t.trainL, err = loader.New(t.trainSrc, loader.Config{Sampler: loader.Train, GlobalBatch: cfg.GlobalBatchSize,
		Seed: cfg.Seed, EpochsPerIter: cfg.EpochsPerIter(), Passes: cfg.TotalIters()})
	if err != nil {
		return nil, fmt.Errorf("training loader: %w", err)
	}
	return t, nil
}

func (t *Trainer) logf(format string, args ...any) {
	if t.opts.Log != nil {
		fmt.Fprintf(t.opts.Log, format+"\n", args...)
	}
}

// Close releases the data.
func (t *Trainer) Close() error {
	if t.trainL != nil {
		t.trainL.Close()
	}
	if t.trainSrc != nil {
		t.trainSrc.Close()
	}
	if t.evalSrc != nil {
		t.evalSrc.Close()
	}
	if t.metrics != nil {
		t.metrics.Close()
	}
	if t.closeBE != nil {
		return t.closeBE()
	}
	return nil
}

// Step is the number of optimiser steps taken (batches consumed).
func (t *Trainer) Step() int { return t.step }

// TotalSteps is the reference's total_steps.
func (t *Trainer) TotalSteps() int { return t.totalSteps }

// Model is the model being trained.
func (t *Trainer) Model() *model.Model[float32] { return t.m }

func (t *Trainer) schedules() (net, emb model.Schedule) {
	w := int(math.Round(t.Cfg.LRWarmupSteps))
	net = model.Schedule{Base: t.Cfg.LR, WarmupSteps: w, TotalSteps: t.totalSteps, MinRatio: t.Cfg.LRMinRatio}
	emb = model.Schedule{Base: t.Cfg.PuzzleEmbLR, WarmupSteps: w, TotalSteps: t.totalSteps, MinRatio: t.Cfg.LRMinRatio}
	return net, emb
}

// Run trains until the configured epochs are done, evaluating and
// checkpointing as the reference does. It returns ErrStopped after a
// checkpoint when stopped early (Options.StopAtStep or ctx cancelled).
func (t *Trainer) Run(ctx context.Context) error {
	cfg := t.Cfg
	// Which backend runs, said up front: on a GPU machine a user would
	// otherwise take the CPU's pace for the GPU's.
	t.logf("run directory %s; total_steps %d, %d iterations of %d epochs; backend %s",
		t.Dir, t.totalSteps, cfg.TotalIters(), cfg.EpochsPerIter(), t.be.Name())
	var bar *progressbar.ProgressBar
	if t.opts.Progress != nil {
		bar = progressbar.NewOptions(t.totalSteps, progressbar.OptionSetWriter(t.opts.Progress),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(20), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		bar.Set(min(t.step, t.totalSteps))
	}
	netSched, embSched := t.schedules()
	gbs := float64(cfg.GlobalBatchSize)
	lastCkpt := -1
	started, startStep := time.Now(), t.step
	for {
		if err := ctx.Err(); err != nil {
			if lastCkpt != t.step {
				if err := t.Checkpoint(); err != nil {
					return err
				}
			}
			return ErrStopped
		}
		waitStart := time.Now()
		b, err := t.trainL.Next(ctx)
		t.WaitTime += time.Since(waitStart)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				continue // checkpoint above
			}
			return err
		}
		t.step++
		stepStart := time.Now()
		rec := map[string]float64{}
		if t.step <= t.totalSteps {
			t.batch.Inputs = b.WidenInputs(t.batch.Inputs)
			t.batch.Labels = b.WidenLabels(t.batch.Labels)
			t.batch.PuzzleIdentifiers = b.PuzzleIdentifiers
			out, err := t.m.Forward(t.carry, &t.batch, true)
			if err != nil {
				b.Release()
				return err
			}
			if err := t.m.Backward(1 / gbs); err != nil {
				b.Release()
				return err
			}
			lr := 0.0
			if cfg.Arch.PuzzleEmbNdim > 0 {
				lr = embSched.LR(t.step)
				if err := t.sgd.Step(t.m, lr); err != nil {
					b.Release()
					return err
				}
			}
			if !cfg.FreezeWeights || cfg.Arch.PuzzleEmbNdim == 0 {
				lr = netSched.LR(t.step)
				t.adam.Step(lr)
			}
			rec = trainRecord(out.Metrics, gbs)
			rec["train/lr"] = lr
		}
		b.Release()
		if t.ema != nil {
			t.ema.Update()
		}
		// A device operation that failed (the optimisers' included) ends
		// the run before anything is logged or checkpointed from it.
		if err := t.be.Err(); err != nil {
			return err
		}
		t.TrainTime += time.Since(stepStart)
		if len(rec) > 0 {
			if err := t.metrics.Write(t.step, rec); err != nil {
				return err
			}
		}
		if bar != nil {
			rate := float64((t.step-startStep)*cfg.GlobalBatchSize) / time.Since(started).Seconds()
			bar.Describe(fmt.Sprintf("loss %.4f exact %.3f lr %.2e %.0f ex/s",
				rec["train/lm_loss"], rec["train/exact_accuracy"], rec["train/lr"], rate))
			bar.Set(min(t.step, t.totalSteps))
		}
		if b.LastOfPass {
			it := b.Pass - 1
			if it >= cfg.MinEvalInterval && t.evalSrc != nil {
				if _, err := t.EvaluateNow(ctx); err != nil {
					if ctx.Err() == nil {
						return err
					}
					// Interrupted mid-evaluation: keep the training done so
					// far; this step's evaluation is skipped.
					t.logf("evaluation at step %d interrupted", t.step)
					continue
				}
			}
			if cfg.CheckpointEveryEval || it == cfg.TotalIters()-1 {
				if err := t.Checkpoint(); err != nil {
					return err
				}
				lastCkpt = t.step
			}
		}
		if cfg.CheckpointEverySteps > 0 && t.step%cfg.CheckpointEverySteps == 0 && lastCkpt != t.step {
			if err := t.Checkpoint(); err != nil {
				return err
			}
			lastCkpt = t.step
		}
		if t.opts.StopAtStep > 0 && t.step >= t.opts.StopAtStep {
			if lastCkpt != t.step {
				if err := t.Checkpoint(); err != nil {
					return err
				}
			}
			return ErrStopped
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if lastCkpt != t.step {
		return t.Checkpoint()
	}
	return nil
}

// trainRecord is the reference's logged train metrics: losses over the
// global batch, the rest over the count of halted rows.
func trainRecord(m model.Metrics, gbs float64) map[string]float64 {
	count := max(m.Count, 1)
	return map[string]float64{
		"train/count":           m.Count / count,
		"train/accuracy":        m.Accuracy / count,
		"train/exact_accuracy":  m.ExactAccuracy / count,
		"train/q_halt_accuracy": m.QHaltAccuracy / count,
		"train/steps":           m.Steps / count,
		"train/lm_loss":         m.LMLoss / gbs,
		"train/q_halt_loss":     m.QHaltLoss / gbs,
	}
}

// EvaluateNow evaluates the current model (with the EMA weights when
// enabled) on the test split, logs the metrics and returns them.
func (t *Trainer) EvaluateNow(ctx context.Context) (map[string]float64, error) {
	if t.ema != nil {
		t.ema.Swap()
		defer t.ema.Swap()
	}
	started := time.Now()
	res, err := Evaluate(ctx, t.m, t.evalSrc, EvalOptions{GlobalBatch: t.Cfg.GlobalBatchSize, ARCs: t.arcs,
		SubmissionDir: filepath.Join(t.Dir, fmt.Sprintf("evaluator_ARC_step_%d", t.step)),
		SaveOutputs:   t.Cfg.EvalSaveOutputs, OutputsPath: filepath.Join(t.Dir, fmt.Sprintf("step_%d_all_preds.0.safetensors", t.step))})
	if err != nil {
		return nil, err
	}
	t.EvalTime += time.Since(started)
	t.logf("step %d eval (%.1fs): %s", t.step, time.Since(started).Seconds(), formatMetrics(res))
	return res, t.metrics.Write(t.step, res)
}

// EvalOptions are Evaluate's settings beside the model and the data.
type EvalOptions struct {
	GlobalBatch int
	// ARCs are the ARC evaluators (their votes accumulate across calls);
	// SubmissionDir receives their submission.json ("": not written).
	ARCs          []*ARC
	SubmissionDir string
	// SaveOutputs names tensors of EvalOutputKeys (eval_save_outputs) to
	// save from every batch into the safetensors file OutputsPath.
	SaveOutputs []string
	OutputsPath string
}

// Evaluate runs the reference's evaluation loop: every test batch from a
// fresh carry for halt_max_steps ACT steps, metrics of the final step summed
// per set and divided by the count, then the ARC evaluators.
func Evaluate(ctx context.Context, m *model.Model[float32], src *loader.Source, opts EvalOptions) (map[string]float64, error) {
	arcs := opts.ARCs
	l, err := loader.New(src, loader.Config{Sampler: loader.Eval, GlobalBatch: opts.GlobalBatch})
	if err != nil {
		return nil, fmt.Errorf("evaluation loader: %w", err)
	}
	defer l.Close()
	var saver *outputsWriter
	if len(opts.SaveOutputs) > 0 {
		if saver, err = newOutputsWriter(opts.OutputsPath, opts.SaveOutputs, src.Meta.SeqLen, src.Meta.VocabSize); err != nil {
			return nil, fmt.Errorf("eval_save_outputs: %w", err)
		}
		defer saver.abort()
	}
	for _, a := range arcs {
		a.BeginEval()
	}
	carry := m.NewCarry()
	var batch model.Batch
	var q []float64
	sums := map[string]*model.Metrics{}
	var sets []string
	for {
		b, err := l.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		batch.Inputs = b.WidenInputs(batch.Inputs)
		batch.Labels = b.WidenLabels(batch.Labels)
		batch.PuzzleIdentifiers = b.PuzzleIdentifiers
		carry.Reset()
		var out *model.StepOutput[float32]
		for {
			if out, err = m.Forward(carry, &batch, false); err != nil {
				b.Release()
				return nil, err
			}
			if out.AllHalted {
				break
			}
		}
		s := sums[b.Set]
		if s == nil {
			s = &model.Metrics{}
			sums[b.Set] = s
			sets = append(sets, b.Set)
		}
		mm := out.Metrics
		s.Count += mm.Count
		s.Accuracy += mm.Accuracy
		s.ExactAccuracy += mm.ExactAccuracy
		s.QHaltAccuracy += mm.QHaltAccuracy
		s.Steps += mm.Steps
		s.LMLoss += mm.LMLoss
		s.QHaltLoss += mm.QHaltLoss
		if saver != nil {
			if err := saver.add(&batch, out); err != nil {
				b.Release()
				return nil, err
			}
		}
		if len(arcs) > 0 {
			q = q[:0]
			for _, v := range out.QHalt {
				q = append(q, float64(v))
			}
			for _, a := range arcs {
				if err := a.Update(batch.Inputs, out.Preds, b.PuzzleIdentifiers, q); err != nil {
					b.Release()
					return nil, err
				}
			}
		}
		b.Release()
	}
	res := map[string]float64{}
	for _, set := range sets {
		s := sums[set]
		c := max(s.Count, 1) // the reference divides by count; guard empty sets
		res[set+"/count"] = s.Count
		res[set+"/accuracy"] = s.Accuracy / c
		res[set+"/exact_accuracy"] = s.ExactAccuracy / c
		res[set+"/q_halt_accuracy"] = s.QHaltAccuracy / c
		res[set+"/steps"] = s.Steps / c
		res[set+"/lm_loss"] = s.LMLoss / c
		res[set+"/q_halt_loss"] = s.QHaltLoss / c
	}
	if saver != nil {
		if err := saver.commit(); err != nil {
			return nil, fmt.Errorf("eval_save_outputs: %w", err)
		}
	}
	for _, a := range arcs {
		r, err := a.Result(opts.SubmissionDir)
		if err != nil {
			return nil, err
		}
		for k, v := range r {
			res[k] = v
		}
	}
	return res, nil
}
