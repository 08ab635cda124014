package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
	"github.com/tinyrecursion/trm/train/dist"
)

// Options control a training run beyond its configuration.
type Options struct {
	// Log receives the resolved configuration and one-line notes; Progress
	// the progress bar (nil: none).
	Log, Progress io.Writer
	// StopAtStep ends the run after that many optimiser steps with a
	// checkpoint, as an interruption would (0: run to the end).
	StopAtStep int
	// Group makes the run one rank of a data-parallel job (nil: a single
	// process); every rank is started with the same configuration and
	// takes Cfg.GlobalBatchSize / Group.Size() rows of each batch.
	Group *dist.Group
	// GPU is the ordinal of the GPU a device=cuda run uses (torchrun's
	// LOCAL_RANK in a job).
	GPU int
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
	peerARCs   [][]*ARC // rank 0 of a job: the other ranks' pooled ARC votes
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
//
// In a data-parallel job every rank calls New with the same configuration;
// the ranks start from rank 0's weights, and only rank 0 writes the run
// directory. A failure on any rank fails New on every rank.
func New(ctx context.Context, cfg *Config, opts Options) (_ *Trainer, err error) {
	g := opts.Group
	if err := agree(g, cfg.Validate()); err != nil {
		return nil, err
	}
	if cfg.RunName == "" {
		name := []byte("TinyRecursiveReasoningModel_ACTV1-" + time.Now().UTC().Format("20060102-150405"))
		if groupSize(g) > 1 {
			// The ranks' clocks may straddle a second: rank 0 names the run.
			if name, err = g.Broadcast(name); err != nil {
				return nil, err
			}
		}
		cfg.RunName = string(name)
	}
	if groupSize(g) > 1 {
		if err := agreeConfig(g, cfg); err != nil {
			return nil, err
		}
	}
	t, err := build(ctx, cfg, opts)
	if err = agree(g, err); err != nil {
		if t != nil {
			t.Close()
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if cfg.LoadCheckpoint != "" && t.lead() {
		err = loadWeights(cfg.LoadCheckpoint, t.m, true)
	}
	if err = agree(g, err); err != nil {
		return nil, err
	}
	if t.distributed() {
		if err := t.broadcastWeights(); err != nil {
			return nil, err
		}
	}
	if t.ema != nil && (cfg.LoadCheckpoint != "" || t.distributed()) {
		// The shadow starts from the weights loaded or received, not the
		// initial ones NewEMA copied.
		t.be.Copy(t.ema.Shadow, t.m.Params)
	}
	if t.lead() {
		err = t.createRunDir()
	}
	return t, agree(g, err)
}

// createRunDir makes the run directory with its configuration and an empty
// metrics log.
func (t *Trainer) createRunDir() (err error) {
	if _, err := os.Stat(filepath.Join(t.Dir, "metrics.jsonl")); err == nil {
		return fmt.Errorf("run directory %s already holds a run: resume it with --resume %s, or choose another run_name", t.Dir, t.Dir)
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	if err := atomicdir.WriteFileAtomic(filepath.Join(t.Dir, "config.yaml"), t.Cfg.YAML()); err != nil {
		return err
	}
	t.metrics, err = openMetrics(filepath.Join(t.Dir, "metrics.jsonl"), -1)
	return err
}

// build opens the data and allocates the model and optimisers for cfg.
func build(ctx context.Context, cfg *Config, opts Options) (_ *Trainer, err error) {
	t := &Trainer{Cfg: cfg, Dir: cfg.RunDir(), opts: opts}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	world := t.worldSize()
	rows, err := rowsPerRank(cfg, opts.Group)
	if err != nil {
		return nil, err
	}
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
	if t.be, t.closeBE, err = openBackend(cfg, opts.GPU, t.logf); err != nil {
		return nil, err
	}
	mc := cfg.ModelConfig(meta.SeqLen, meta.VocabSize, meta.NumPuzzleIdentifiers)
	mc.BatchSize = rows
	if t.m, err = newModel(mc, t.be, cfg.Seed); err != nil {
		return nil, err
	}
	if r := t.rank(); r > 0 {
		t.m.SeedExplore(uint64(cfg.Seed) + uint64(r))
	}
	t.adam = model.NewAdamATan2(t.m, cfg.Beta1, cfg.Beta2, cfg.WeightDecay)
	t.sgd = model.NewSignSGD[float32](cfg.PuzzleEmbWeightDecay)
	if cfg.EMA {
		t.ema = model.NewEMA(t.m, cfg.EMARate)
	}
	t.carry = t.m.NewCarry()
	if world > 1 && t.lead() && len(t.arcs) > 0 {
		t.peerARCs = emptyCopies(t.arcs, world-1)
	}
	t.trainL, err = loader.New(t.trainSrc, loader.Config{Sampler: loader.Train, GlobalBatch: cfg.GlobalBatchSize,
		Rank: t.rank(), WorldSize: world, Seed: cfg.Seed, EpochsPerIter: cfg.EpochsPerIter(), Passes: cfg.TotalIters()})
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
	job := ""
	if t.distributed() {
		job = fmt.Sprintf("; %d processes of %d rows each", t.worldSize(), cfg.GlobalBatchSize/t.worldSize())
	}
	t.logf("run directory %s; total_steps %d, %d iterations of %d epochs; backend %s%s",
		t.Dir, t.totalSteps, cfg.TotalIters(), cfg.EpochsPerIter(), t.be.Name(), job)
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
	// A cancelled ctx stops the run after the step in progress: the ranks
	// of a job see a Ctrl-C at different moments, so they agree on it with
	// each step's metrics (reduceMetrics) and all stop after the same step;
	// a single process decides alone, the same way. Batches are fetched
	// regardless of ctx.
	stop := false
	nextCtx := context.WithoutCancel(ctx)
	for {
		if stop {
			if lastCkpt != t.step {
				if err := t.Checkpoint(); err != nil {
					return err
				}
			}
			return ErrStopped
		}
		waitStart := time.Now()
		b, err := t.trainL.Next(nextCtx)
		t.WaitTime += time.Since(waitStart)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		t.step++
		stepStart := time.Now()
		stepped := t.step <= t.totalSteps
		var sums model.Metrics
		lr := 0.0
		if stepped {
			if sums, lr, err = t.trainStep(b, netSched, embSched); err != nil {
				b.Release()
				return err
			}
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
		if sums, stop, err = t.reduceMetrics(sums, ctx.Err() != nil); err != nil {
			return err
		}
		t.TrainTime += time.Since(stepStart)
		rec := map[string]float64{}
		if stepped {
			rec = trainRecord(sums, gbs)
			rec["train/lr"] = lr
			if t.metrics != nil {
				if err := t.metrics.Write(t.step, rec); err != nil {
					return err
				}
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
					if !errors.Is(err, errEvalInterrupted) {
						return err
					}
					// Interrupted mid-evaluation: keep the training done so
					// far; this step's evaluation is skipped.
					t.logf("evaluation at step %d interrupted", t.step)
					stop = true
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

// trainStep is one optimiser step on batch b: forward, backward, the
// gradients summed over a job's ranks, both optimisers. It returns this
// rank's metric sums and the learning rate logged.
func (t *Trainer) trainStep(b *loader.Batch, netSched, embSched model.Schedule) (model.Metrics, float64, error) {
	cfg := t.Cfg
	t.batch.Inputs = b.WidenInputs(t.batch.Inputs)
	t.batch.Labels = b.WidenLabels(t.batch.Labels)
	t.batch.PuzzleIdentifiers = b.PuzzleIdentifiers
	out, err := t.m.Forward(t.carry, &t.batch, true)
	if err != nil {
		return model.Metrics{}, 0, err
	}
	if err := t.m.Backward(1 / float64(cfg.GlobalBatchSize)); err != nil {
		return model.Metrics{}, 0, err
	}
	if t.distributed() {
		if err := t.reduceGradients(); err != nil {
			return model.Metrics{}, 0, err
		}
	}
	lr := 0.0
	if cfg.Arch.PuzzleEmbNdim > 0 {
		lr = embSched.LR(t.step)
		if err := t.puzzleEmbStep(lr); err != nil {
			return model.Metrics{}, 0, err
		}
	}
	if !cfg.FreezeWeights || cfg.Arch.PuzzleEmbNdim == 0 {
		lr = netSched.LR(t.step)
		t.adam.Step(lr)
	}
	return out.Metrics, lr, nil
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
// enabled) on the test split, logs the metrics and returns them (on rank 0
// of a job; nil on the others).
func (t *Trainer) EvaluateNow(ctx context.Context) (map[string]float64, error) {
	if t.ema != nil {
		t.ema.Swap()
		defer t.ema.Swap()
	}
	started := time.Now()
	res, err := Evaluate(ctx, t.m, t.evalSrc, EvalOptions{GlobalBatch: t.Cfg.GlobalBatchSize, ARCs: t.arcs, Group: t.opts.Group, PeerARCs: t.peerARCs,
		SubmissionDir: filepath.Join(t.Dir, fmt.Sprintf("evaluator_ARC_step_%d", t.step)),
		SaveOutputs:   t.Cfg.EvalSaveOutputs, OutputsPath: filepath.Join(t.Dir, fmt.Sprintf("step_%d_all_preds.%d.safetensors", t.step, t.rank()))})
	if err != nil {
		return nil, err
	}
	t.EvalTime += time.Since(started)
	if !t.lead() {
		return nil, nil
	}
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
	// Group makes this one rank of a data-parallel evaluation: each rank
	// evaluates its slice of every batch, and rank 0 sums the metrics and
	// votes on the ARC predictions of all ranks.
	Group *dist.Group
	// PeerARCs, on rank 0 of a job, pool the other ranks' ARC votes over a
	// run's evaluations (PeerARCs[r-1] for rank r, evaluators like ARCs):
	// the other ranks' ARCs hold only the current evaluation's votes, which
	// is all they send. nil: this evaluation's votes alone (trm eval).
	PeerARCs [][]*ARC
}

// errEvalInterrupted reports that the evaluation was cancelled: on every
// rank of a job, when some rank's was. It is a context.Canceled, as the CLI
// reports interruptions.
var errEvalInterrupted = fmt.Errorf("evaluation interrupted: %w", context.Canceled)

// evalSums are the metric sums of one rank's evaluation, per set in the
// order the sets appeared.
type evalSums struct {
	Sets []string
	Sums []model.Metrics
	// Interrupted: the rank's evaluation was cancelled before its end.
	Interrupted bool
}

func (e *evalSums) add(set string, m model.Metrics) {
	i := slices.Index(e.Sets, set)
	if i < 0 {
		e.Sets = append(e.Sets, set)
		e.Sums = append(e.Sums, model.Metrics{})
		i = len(e.Sets) - 1
	}
	s := &e.Sums[i]
	s.Count += m.Count
	s.Accuracy += m.Accuracy
	s.ExactAccuracy += m.ExactAccuracy
	s.QHaltAccuracy += m.QHaltAccuracy
	s.Steps += m.Steps
	s.LMLoss += m.LMLoss
	s.QHaltLoss += m.QHaltLoss
}

// metrics are the reference's evaluation metrics: every sum over the count.
func (e *evalSums) metrics() map[string]float64 {
	res := map[string]float64{}
	for i, set := range e.Sets {
		s := e.Sums[i]
		c := max(s.Count, 1) // the reference divides by count; guard empty sets
		res[set+"/count"] = s.Count
		res[set+"/accuracy"] = s.Accuracy / c
		res[set+"/exact_accuracy"] = s.ExactAccuracy / c
		res[set+"/q_halt_accuracy"] = s.QHaltAccuracy / c
		res[set+"/steps"] = s.Steps / c
		res[set+"/lm_loss"] = s.LMLoss / c
		res[set+"/q_halt_loss"] = s.QHaltLoss / c
	}
	return res
}

// Evaluate runs the reference's evaluation loop: every test batch from a
// fresh carry for halt_max_steps ACT steps, metrics of the final step summed
// per set and divided by the count, then the ARC evaluators. In a job
// (opts.Group) rank 0 returns the metrics of all ranks, the others nil.
func Evaluate(ctx context.Context, m *model.Model[float32], src *loader.Source, opts EvalOptions) (map[string]float64, error) {
	var sums evalSums
	err := evaluateRank(ctx, m, src, opts, &sums)
	if g := opts.Group; groupSize(g) > 1 {
		// Every rank joins, failed or not, so that none waits for another.
		return evaluateJoin(ctx, g, &sums, opts, err)
	}
	if err != nil && ctx.Err() != nil {
		return nil, errEvalInterrupted
	}
	if err != nil {
		return nil, err
	}
	return evalResult(&sums, opts.ARCs, opts.SubmissionDir)
}

// evaluateRank is this rank's share of Evaluate: its slice of every batch,
// its metric sums, its ARC votes and saved outputs.
func evaluateRank(ctx context.Context, m *model.Model[float32], src *loader.Source, opts EvalOptions, sums *evalSums) error {
	g := opts.Group
	l, err := loader.New(src, loader.Config{Sampler: loader.Eval, GlobalBatch: opts.GlobalBatch, Rank: groupRank(g), WorldSize: groupSize(g)})
	if err != nil {
		return fmt.Errorf("evaluation loader: %w", err)
	}
	defer l.Close()
	var saver *outputsWriter
	if len(opts.SaveOutputs) > 0 {
		if saver, err = newOutputsWriter(opts.OutputsPath, opts.SaveOutputs, src.Meta.SeqLen, src.Meta.VocabSize); err != nil {
			return fmt.Errorf("eval_save_outputs: %w", err)
		}
		defer saver.abort()
	}
	for _, a := range opts.ARCs {
		if groupRank(g) > 0 {
			a.reset() // rank 0 pools this rank's votes (PeerARCs)
		} else {
			a.BeginEval()
		}
	}
	if err := evaluateBatches(ctx, m, l, opts.ARCs, saver, sums); err != nil {
		return err
	}
	if saver != nil {
		if err := saver.commit(); err != nil {
			return fmt.Errorf("eval_save_outputs: %w", err)
		}
	}
	return nil
}

// evaluateBatches runs the model over every batch of l, summing the metrics
// into sums and passing the predictions to the ARC evaluators and saver.
func evaluateBatches(ctx context.Context, m *model.Model[float32], l *loader.Loader, arcs []*ARC, saver *outputsWriter, sums *evalSums) error {
	carry := m.NewCarry()
	var batch model.Batch
	var q []float64
	for {
		b, err := l.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		batch.Inputs = b.WidenInputs(batch.Inputs)
		batch.Labels = b.WidenLabels(batch.Labels)
		batch.PuzzleIdentifiers = b.PuzzleIdentifiers
		carry.Reset()
		var out *model.StepOutput[float32]
		for {
			if out, err = m.Forward(carry, &batch, false); err != nil {
				b.Release()
				return err
			}
			if out.AllHalted {
				break
			}
		}
		sums.add(b.Set, out.Metrics)
		if saver != nil {
			if err := saver.add(&batch, out); err != nil {
				b.Release()
				return err
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
					return err
				}
			}
		}
		b.Release()
	}
}

// evalResult is the metrics of sums with the ARC evaluators' scores.
func evalResult(sums *evalSums, arcs []*ARC, submissionDir string) (map[string]float64, error) {
	res := sums.metrics()
	for _, a := range arcs {
		r, err := a.Result(submissionDir)
		if err != nil {
			return nil, err
		}
		maps.Copy(res, r)
	}
	return res, nil
}

// evaluateJoin ends one rank's part of a job's evaluation: rank 0 gathers
// every other rank's sums and ARC votes of this evaluation (or failure),
// adds them in rank order and scores them; then every rank learns rank 0's
// outcome.
func evaluateJoin(ctx context.Context, g *dist.Group, sums *evalSums, opts EvalOptions, err error) (map[string]float64, error) {
	if err != nil && ctx.Err() != nil {
		sums.Interrupted, err = true, nil
	}
	js, _ := json.Marshal(sums) // finite floats and strings only
	var votes []byte
	if len(opts.ARCs) > 0 && g.Rank() > 0 {
		votes = marshalARCStates(opts.ARCs)
	}
	all, err := gatherChecked(g, packPair(js, votes), err)
	var res map[string]float64
	if g.Rank() == 0 && err == nil {
		res, err = mergeEvaluations(all, opts)
	}
	return agreeEval(g, res, err)
}

// mergeEvaluations adds the ranks' gathered sums and votes in rank order
// and scores them. The other ranks' votes join their pools in PeerARCs even
// when the evaluation was interrupted, as a single process keeps the votes
// of an interrupted evaluation.
func mergeEvaluations(all [][]byte, opts EvalOptions) (map[string]float64, error) {
	peers := opts.PeerARCs
	if peers == nil {
		peers = emptyCopies(opts.ARCs, len(all)-1)
	}
	if len(opts.ARCs) > 0 && len(peers) != len(all)-1 {
		return nil, fmt.Errorf("%d pools of ARC votes for the %d other ranks", len(peers), len(all)-1)
	}
	var total evalSums
	interrupted := false
	for r, p := range all {
		js, votes, err := unpackPair(p)
		if err != nil {
			return nil, fmt.Errorf("evaluation of rank %d: %w", r, err)
		}
		var s evalSums
		if err := json.Unmarshal(js, &s); err != nil || len(s.Sets) != len(s.Sums) {
			return nil, fmt.Errorf("evaluation of rank %d: malformed metric sums", r)
		}
		interrupted = interrupted || s.Interrupted
		for i, set := range s.Sets {
			total.add(set, s.Sums[i])
		}
		if r > 0 && len(opts.ARCs) > 0 {
			for _, a := range peers[r-1] {
				a.BeginEval() // clears the pool unless votes are aggregated
			}
			if err := addARCStates(votes, peers[r-1]); err != nil {
				return nil, fmt.Errorf("ARC votes of rank %d: %w", r, err)
			}
		}
	}
	if interrupted {
		return nil, errEvalInterrupted
	}
	arcs := opts.ARCs
	if len(arcs) > 0 {
		arcs = mergeARCs(append([][]*ARC{arcs}, peers...))
	}
	return evalResult(&total, arcs, opts.SubmissionDir)
}

// agreeEval gives every rank the outcome of rank 0's evaluation: an
// interruption on any rank is errEvalInterrupted everywhere, so that all
// ranks stop together.
func agreeEval(g *dist.Group, res map[string]float64, err error) (map[string]float64, error) {
	if groupSize(g) == 1 {
		return res, err
	}
	if g.Rank() == 0 {
		status := []byte{0}
		switch {
		case errors.Is(err, errEvalInterrupted):
			status = []byte{1}
		case err != nil:
			status = append([]byte{2}, err.Error()...)
		}
		if _, berr := g.Broadcast(status); berr != nil {
			return nil, errors.Join(err, berr)
		}
		return res, err
	}
	status, berr := g.Broadcast(nil)
	switch {
	case berr != nil:
		return nil, errors.Join(err, berr)
	case len(status) == 0:
		return nil, errors.New("rank 0 sent no evaluation outcome")
	case status[0] == 1:
		return nil, errEvalInterrupted
	case status[0] == 2 && err == nil:
		return nil, fmt.Errorf("rank 0 failed: %s", status[1:])
	case status[0] == 2:
		return nil, err
	}
	return nil, nil
}
