package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
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

// EvalCheckpoint evaluates a checkpoint (a step directory, or a run
// directory meaning its latest step) on the test split of data (the
// checkpoint's own data_paths when empty), as the evaluation during
// training does but with fresh ARC votes. overrides adjust the saved
// configuration (e.g. global_batch_size=256). submission.json goes to
// <checkpoint>/evaluator_ARC_eval, the tensors eval_save_outputs names to
// <checkpoint>/eval_all_preds.0.safetensors.
//
// path may also be a weights file: a reference step_<N> checkpoint
// (torch.save) or safetensors with the reference's names. Such a file
// carries no configuration: the reference's defaults and overrides give
// it (the arch.* settings it was trained with), data gives the test set,
// and the outputs go to <file>_eval/.
func EvalCheckpoint(ctx context.Context, path string, data []string, overrides []string) (*EvalResult, error) {
	var cfg *Config
	var weights []byte
	var weightsName, checkpoint, outDir string
	var step int
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		if len(data) == 0 {
			return nil, fmt.Errorf("%s is a weights file without a configuration: name the test data with --data", path)
		}
		if cfg, err = LoadConfig("", overrides); err != nil {
			return nil, err
		}
		if weights, err = os.ReadFile(path); err != nil {
			return nil, err
		}
		weightsName, checkpoint, outDir = path, path, path+"_eval"
		step, _ = stepNumber(filepath.Base(path))
	} else {
		ck, files, n, err := readCheckpoint(path)
		if err != nil {
			return nil, err
		}
		if cfg, err = LoadConfig(filepath.Join(ck, ConfigFile), overrides); err != nil {
			return nil, err
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
	src, err := loader.Open(ctx, test, "test", loader.OpenOptions{})
	if err != nil {
		return nil, fmt.Errorf("test data: %w", err)
	}
	defer src.Close()
	meta := src.Meta
	mc := cfg.ModelConfig(meta.SeqLen, meta.VocabSize, meta.NumPuzzleIdentifiers)
	var notes []string
	be, closeBE, err := openBackend(cfg, 0, func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) })
	if err != nil {
		return nil, err
	}
	defer closeBE()
	m, err := model.New(mc, be, uint64(cfg.Seed))
	if err != nil {
		return nil, err
	}
	if err := setWeights(weightsName, weights, m, false); err != nil {
		return nil, err
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
	var rows int64
	for _, p := range src.Parts {
		rows += p.Rows()
	}
	start := time.Now()
	res, err := Evaluate(ctx, m, src, EvalOptions{GlobalBatch: cfg.GlobalBatchSize, ARCs: arcs,
		SubmissionDir: filepath.Join(outDir, "evaluator_ARC_eval"),
		SaveOutputs:   cfg.EvalSaveOutputs, OutputsPath: filepath.Join(outDir, "eval_all_preds.0.safetensors")})
	if err != nil {
		return nil, err
	}
	return &EvalResult{Checkpoint: checkpoint, OutputDir: outDir, Step: step, Metrics: res, Examples: rows, Seconds: time.Since(start).Seconds(),
		Backend: be.Name(), Notes: notes}, nil
}
