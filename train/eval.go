package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
	"github.com/tinyrecursion/trm/train/dist"
)

// EvalResult is what EvalCheckpoint measured.
type EvalResult struct {
	Checkpoint string // the step directory, or the weights file
	OutputDir  string // where submission.json and saved outputs went
	Step       int
	Metrics    map[string]float64
	Examples   int64 // test examples evaluated
	Seconds    float64
	Backend    string   // the backend that ran it (the device key chooses)
	Notes      []string // e.g. why device=auto ran on the CPU
}

// EvalJob places EvalCheckpoint in a data-parallel job (the zero value: a
// single process): each rank evaluates its slice of every batch on GPU GPU
// (with device=cuda), and rank 0 gets the metrics of all.
type EvalJob struct {
	Group *dist.Group
	GPU   int
}

// EvalCheckpoint evaluates a checkpoint (a step directory, or a run
// directory meaning its latest step) on the test split of data (the
// checkpoint's own data_paths when empty), as the evaluation during
// training does but with fresh ARC votes. overrides adjust the saved
// configuration (e.g. global_batch_size=256). submission.json goes to
// <checkpoint>/evaluator_ARC_eval, the tensors eval_save_outputs names to
// <checkpoint>/eval_all_preds.<rank>.safetensors. In a job (job.Group)
// every rank calls it alike; rank 0's result holds the metrics, the
// others' none.
//
// path may also be a weights file: a reference step_<N> checkpoint
// (torch.save) or safetensors with the reference's names. Such a file
// carries no configuration: the reference's defaults and overrides give
// it (the arch.* settings it was trained with), data gives the test set,
// and the outputs go to <file>_eval/.
func EvalCheckpoint(ctx context.Context, path string, data []string, overrides []string, job EvalJob) (*EvalResult, error) {
	var e evalRun
	defer e.release()
	err := e.open(ctx, path, data, overrides, job)
	// The ranks of a job start evaluating together or not at all.
	if err = agree(job.Group, err); err != nil {
		return nil, err
	}
	start := time.Now()
	if e.res.Metrics, err = Evaluate(ctx, e.m, e.src, e.opts); err != nil {
		return nil, err
	}
	e.res.Seconds = time.Since(start).Seconds()
	return &e.res, nil
}

// evalRun is EvalCheckpoint's evaluation, opened and ready to run.
type evalRun struct {
	res     EvalResult
	m       *model.Model[float32]
	src     *loader.Source
	closeBE func() error
	opts    EvalOptions
}

// release closes what open opened.
func (e *evalRun) release() {
	if e.closeBE != nil {
		e.closeBE()
	}
	if e.src != nil {
		e.src.Close()
	}
}

// open reads the checkpoint and opens the data and the model: every
// failure of the configuration or the files happens here.
func (e *evalRun) open(ctx context.Context, path string, data []string, overrides []string, job EvalJob) (err error) {
	r := &e.res
	var cfg *Config
	var weights []byte
	var weightsName, checkpoint, outDir string
	var step int
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		if len(data) == 0 {
			return fmt.Errorf("%s is a weights file without a configuration: name the test data with --data", path)
		}
		if cfg, err = LoadConfig("", overrides); err != nil {
			return err
		}
		if weights, err = os.ReadFile(path); err != nil {
			return err
		}
		weightsName, checkpoint, outDir = path, path, path+"_eval"
		step, _ = stepNumber(filepath.Base(path))
	} else {
		ck, files, n, err := readCheckpoint(path)
		if err != nil {
			return err
		}
		if cfg, err = LoadConfig(filepath.Join(ck, ConfigFile), overrides); err != nil {
			return err
		}
		weights, weightsName, checkpoint, outDir, step = files[WeightsFile], filepath.Join(ck, WeightsFile), ck, ck, n
	}
	test := cfg.DataPaths
	if len(cfg.DataPathsTest) > 0 {
		test = cfg.DataPathsTest
	}
	if len(data) > 0 {
		test = data
	}
	rows, err := rowsPerRank(cfg, job.Group)
	if err != nil {
		return err
	}
	if e.src, err = loader.Open(ctx, test, "test", loader.OpenOptions{}); err != nil {
		return fmt.Errorf("test data: %w", err)
	}
	meta := e.src.Meta
	mc := cfg.ModelConfig(meta.SeqLen, meta.VocabSize, meta.NumPuzzleIdentifiers)
	mc.BatchSize = rows
	var be kernels.Backend[float32]
	if be, e.closeBE, err = openBackend(cfg, job.GPU, func(f string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(f, a...)) }); err != nil {
		return err
	}
	if e.m, err = newModel(mc, be, cfg.Seed); err != nil {
		return err
	}
	if err := setWeights(weightsName, weights, e.m, false); err != nil {
		return err
	}
	var arcs []*ARC
	for _, e := range cfg.Evaluators {
		if e.Name != "arc@ARC" || meta.SeqLen != 900 {
			continue
		}
		for _, p := range test {
			if a, err := NewARC(p, int32(meta.BlankIdentifierID)); err == nil {
				arcs = append(arcs, a)
			}
		}
	}
	for _, p := range e.src.Parts {
		r.Examples += p.Rows()
	}
	r.Checkpoint, r.OutputDir, r.Step, r.Backend = checkpoint, outDir, step, be.Name()
	e.opts = EvalOptions{GlobalBatch: cfg.GlobalBatchSize, ARCs: arcs, Group: job.Group,
		SubmissionDir: filepath.Join(outDir, "evaluator_ARC_eval"), SaveOutputs: cfg.EvalSaveOutputs,
		OutputsPath: filepath.Join(outDir, fmt.Sprintf("eval_all_preds.%d.safetensors", groupRank(job.Group)))}
	return nil
}
