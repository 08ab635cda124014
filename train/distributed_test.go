package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
	"github.com/tinyrecursion/trm/pipeline"
	"github.com/tinyrecursion/trm/train/dist"
)

// inJob runs fn as every rank of an n-process job, in goroutines joined
// over loopback, and returns each rank's error. A rank's group closes when
// its fn returns, so a failed rank's peers stop waiting for it.
func inJob(t *testing.T, n int, fn func(g *dist.Group) error) []error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			cfg := dist.Config{Rank: r, WorldSize: n, Addr: ln.Addr().String(), Timeout: 20 * time.Second}
			if r == 0 {
				cfg.Listener = ln
			}
			g, err := dist.Join(t.Context(), cfg)
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			errs[r] = fn(g)
		})
	}
	wg.Wait()
	return errs
}

// jobResult is what a rank's run leaves in memory.
type jobResult struct {
	params, puzzleEmb []float32
}

// trainJob trains configs[r] as rank r of a len(configs)-process job (one
// process: no group) to its end or stopAt, and returns every rank's final
// weights.
func trainJob(t *testing.T, configs []*Config, stopAt int, resume string) []jobResult {
	t.Helper()
	n := len(configs)
	out := make([]jobResult, n)
	run := func(g *dist.Group) error {
		r := groupRank(g)
		opts := Options{Group: g, StopAtStep: stopAt}
		var tr *Trainer
		var err error
		if resume != "" {
			tr, err = Resume(context.Background(), resume, opts)
		} else {
			tr, err = New(context.Background(), configs[r], opts)
		}
		if err != nil {
			return err
		}
		defer tr.Close()
		if err := tr.Run(context.Background()); err != nil && !(stopAt > 0 && errors.Is(err, ErrStopped)) {
			return err
		}
		out[r] = jobResult{slices.Clone(tr.Model().Params), slices.Clone(tr.Model().PuzzleEmb)}
		return nil
	}
	var errs []error
	if n == 1 {
		errs = []error{run(nil)}
	} else {
		errs = inJob(t, n, run)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// jobConfigs are one configuration per rank, as each process of a job
// resolves its own command line.
func jobConfigs(t *testing.T, n int, data, run string, extra ...string) []*Config {
	t.Helper()
	configs := make([]*Config, n)
	for r := range configs {
		configs[r] = tinyConfig(t, data, run, extra...)
	}
	return configs
}

// TestDataParallelMatchesOneProcess trains the same run as one process and
// as a job of two and of four (the all-reduces' mesh), each rank on its
// share of every batch: the ranks must hold the same weights bit for bit,
// and the job must follow the single process's run up to the rounding of
// the summed gradients.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	data := mazeDataset(t, 64, 16, 7)
	// Exploration draws differ per rank by design (the reference seeds each
	// rank apart); without it both runs see the same halting.
	extra := []string{"epochs=4", "eval_interval=2", "ema=True", "arch.halt_exploration_prob=0"}
	single := filepath.Join(t.TempDir(), "single")
	one := trainJob(t, jobConfigs(t, 1, data, single, extra...), 0, "")[0]
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d ranks", n), func(t *testing.T) { matchesOneProcess(t, n, data, single, one, extra) })
	}
}

func matchesOneProcess(t *testing.T, n int, data, single string, one jobResult, extra []string) {
	job := filepath.Join(t.TempDir(), "job")
	ranks := trainJob(t, jobConfigs(t, n, data, job, extra...), 0, "")
	for r := 1; r < n; r++ {
		if !slices.Equal(ranks[0].params, ranks[r].params) || !slices.Equal(ranks[0].puzzleEmb, ranks[r].puzzleEmb) {
			t.Fatalf("the weights of ranks 0 and %d differ: %d of %d parameters, %d of %d embedding values", r,
				countDiff(ranks[0].params, ranks[r].params), len(ranks[0].params), countDiff(ranks[0].puzzleEmb, ranks[r].puzzleEmb), len(ranks[0].puzzleEmb))
		}
	}
	recsOne, err := ReadMetrics(filepath.Join(single, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	recsJob, err := ReadMetrics(filepath.Join(job, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recsOne) != len(recsJob) || len(recsOne) == 0 {
		t.Fatalf("%d metrics records in the job, %d in the single process", len(recsJob), len(recsOne))
	}
	evals, worstMetric := 0, 0.0
	for i, a := range recsOne {
		b := recsJob[i]
		for k, va := range a {
			vb, ok := b[k]
			if !ok {
				t.Errorf("record %d: the job logged no %s", i, k)
				continue
			}
			if strings.HasSuffix(k, "/count") || k == "_step" {
				if va != vb {
					t.Errorf("record %d: %s %v in the job, %v in the single process", i, k, vb, va)
				}
				continue
			}
			d := math.Abs(va-vb) / max(math.Abs(va), 1)
			worstMetric = max(worstMetric, d)
			if d > 1e-5 {
				t.Errorf("record %d: %s %.9g in the job, %.9g in the single process", i, k, vb, va)
			}
		}
		if _, ok := a["all/count"]; ok {
			evals++
		}
	}
	if evals != 2 {
		t.Errorf("%d evaluations logged, want 2", evals)
	}
	worst := 0.0
	for i, v := range one.params {
		worst = max(worst, math.Abs(float64(v-ranks[0].params[i])))
	}
	t.Logf("%d records, metrics within %.3g relative, parameters within %.3g of the single process's", len(recsOne), worstMetric, worst)
	if worst > 1e-5 {
		t.Errorf("parameters %.3g apart from the single process's", worst)
	}
}

func countDiff(a, b []float32) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestDataParallelResume stops a job of two mid-pass and resumes it: its
// checkpoints, metrics and weights must equal an uninterrupted job's bit
// for bit; and a single process may not resume it.
func TestDataParallelResume(t *testing.T) {
	data := mazeDataset(t, 64, 16, 7)
	extra := []string{"epochs=4", "eval_interval=2", "ema=True"}
	straight := filepath.Join(t.TempDir(), "straight")
	want := trainJob(t, jobConfigs(t, 2, data, straight, extra...), 0, "")
	resumed := filepath.Join(t.TempDir(), "resumed")
	trainJob(t, jobConfigs(t, 2, data, resumed, extra...), 5, "")
	run := resumed
	for _, f := range []string{rankFile(StateFile, 1), StateFile, WeightsFile} {
		if _, err := os.Stat(filepath.Join(run, "step_5", f)); err != nil {
			t.Errorf("the stopped job's checkpoint: %v", err)
		}
	}
	if _, err := Resume(context.Background(), run, Options{}); err == nil || !strings.Contains(err.Error(), "--nproc 2") {
		t.Errorf("one process resuming a job of two: %v", err)
	}
	// Nor a job of two a single process's run.
	single := filepath.Join(t.TempDir(), "single")
	trainJob(t, jobConfigs(t, 1, data, single, extra...), 2, "")
	for r, err := range inJob(t, 2, func(g *dist.Group) error {
		_, err := Resume(context.Background(), single, Options{Group: g})
		return err
	}) {
		if err == nil || !strings.Contains(err.Error(), "written by a single process") {
			t.Errorf("rank %d of two resuming a single process's run: %v", r, err)
		}
	}
	got := trainJob(t, []*Config{nil, nil}, 0, run)
	for r := range got {
		if !slices.Equal(got[r].params, want[r].params) || !slices.Equal(got[r].puzzleEmb, want[r].puzzleEmb) {
			t.Errorf("rank %d: the resumed job's weights differ from the uninterrupted job's", r)
		}
	}
	steps, err := checkpointSteps(run)
	if err != nil || len(steps) == 0 {
		t.Fatalf("checkpoints %v: %v", steps, err)
	}
	last := "step_" + strconv.Itoa(steps[len(steps)-1])
	sameFiles(t, straight, run, "metrics.jsonl", last+"/"+WeightsFile, last+"/"+StateFile, last+"/"+rankFile(StateFile, 1))
}

// TestDataParallelARCResume trains a job of two on ARC tasks with the ARC
// evaluator, whose votes pool over the run's evaluations: stopped between
// evaluations and resumed, it must vote, score and write submission.json
// exactly as the uninterrupted job (the votes of rank 1 travel through its
// own checkpoint file).
func TestDataParallelARCResume(t *testing.T) {
	data := miniARCDataset(t, 6)
	extra := []string{"evaluators=[{name: arc@ARC}]", "global_batch_size=4", "epochs=2", "eval_interval=1",
		"arch.hidden_size=16", "arch.puzzle_emb_ndim=16", "arch.H_cycles=1", "arch.L_cycles=1", "arch.halt_max_steps=2"}
	straight := filepath.Join(t.TempDir(), "straight")
	trainJob(t, jobConfigs(t, 2, data, straight, extra...), 0, "")
	steps, err := checkpointSteps(straight)
	if err != nil || len(steps) != 2 || steps[1] < steps[0]+2 {
		t.Fatalf("checkpoints of the uninterrupted job: %v, %v; want two evaluations, apart", steps, err)
	}
	resumed := filepath.Join(t.TempDir(), "resumed")
	trainJob(t, jobConfigs(t, 2, data, resumed, extra...), steps[0]+1, "")
	if _, err := os.Stat(filepath.Join(resumed, fmt.Sprintf("step_%d", steps[0]+1), rankFile(ARCStateFile, 1))); err != nil {
		t.Errorf("rank 1's votes in the checkpoint: %v", err)
	}
	trainJob(t, []*Config{nil, nil}, 0, resumed)
	sameFiles(t, straight, resumed, "metrics.jsonl", fmt.Sprintf("evaluator_ARC_step_%d/submission.json", steps[1]))
	recs, err := ReadMetrics(filepath.Join(resumed, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[len(recs)-1]; r["ARC/pass@1000"] == 0 && r["all/count"] == 0 {
		t.Errorf("the last evaluation has no ARC scores: %v", r)
	}
}

// TestDataParallelLoadCheckpoint: with load_checkpoint only rank 0 reads
// the weights (as the reference's rank 0 does) and every rank starts from
// them.
func TestDataParallelLoadCheckpoint(t *testing.T) {
	data := mazeDataset(t, 32, 8, 7)
	donor := filepath.Join(t.TempDir(), "donor")
	want := trainJob(t, jobConfigs(t, 1, data, donor, "ema=False"), 2, "")[0]
	configs := jobConfigs(t, 2, data, filepath.Join(t.TempDir(), "job"), "load_checkpoint="+donor)
	got := make([][]float32, 2)
	if err := errors.Join(inJob(t, 2, func(g *dist.Group) error {
		tr, err := New(context.Background(), configs[g.Rank()], Options{Group: g})
		if err != nil {
			return err
		}
		defer tr.Close()
		got[g.Rank()] = slices.Clone(tr.Model().Params)
		return nil
	})...); err != nil {
		t.Fatal(err)
	}
	for r, p := range got {
		if !slices.Equal(p, want.params) {
			t.Errorf("rank %d starts from other weights than the checkpoint's: %d of %d differ", r, countDiff(p, want.params), len(p))
		}
	}
}

// TestDataParallelFailures: a rank that fails, or resolves another
// configuration, fails every rank with the cause, instead of leaving the
// others waiting.
func TestDataParallelFailures(t *testing.T) {
	errs := inJob(t, 3, func(g *dist.Group) error {
		var err error
		if g.Rank() == 2 {
			err = errors.New("disk full")
		}
		return agree(g, err)
	})
	for r, err := range errs {
		want := "rank 2 failed: disk full"
		if r == 2 {
			want = "disk full"
		}
		if err == nil || err.Error() != want {
			t.Errorf("rank %d: %v, want %q", r, err, want)
		}
	}

	data := mazeDataset(t, 32, 8, 7)
	run := filepath.Join(t.TempDir(), "run")
	configs := jobConfigs(t, 2, data, run)
	configs[1].LR *= 2
	errs = inJob(t, 2, func(g *dist.Group) error {
		_, err := New(context.Background(), configs[g.Rank()], Options{Group: g})
		return err
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "another configuration") {
			t.Errorf("rank %d with differing learning rates: %v", r, err)
		}
	}
	if _, err := os.Stat(run); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a job that failed to start left %s behind (%v)", run, err)
	}

	configs = jobConfigs(t, 3, data, run, "global_batch_size=16")
	errs = inJob(t, 3, func(g *dist.Group) error {
		_, err := New(context.Background(), configs[g.Rank()], Options{Group: g})
		return err
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("global_batch_size 16 is not divisible by the %d processes", 3)) {
			t.Errorf("rank %d of 3 with a batch of 16: %v", r, err)
		}
	}
}

// TestEvaluateARCOverRanks evaluates two small models in turn on ten ARC
// tasks, pooling the votes, as one process and as a job of two, in one
// batch holding every test row (so the ranks' votes, merged in rank order,
// come in the single process's order but for exact ties): pass@K and
// submission.json must be equal, the metrics equal to the rounding of
// their float32 sums per batch (as the reference's); the saved outputs are
// split by rank.
func TestEvaluateARCOverRanks(t *testing.T) {
	// Every test input gets four votes, which the ranks split.
	dir := miniARCDataset(t, 10)
	src, _ := openTestSplit(t, dir, 64)
	rows := countTestRows(t, src)
	batch := rows + rows%2
	tc := tinyConfig(t, dir, t.TempDir(), "arch.halt_max_steps=1", "arch.H_cycles=1", "arch.L_cycles=1", "arch.hidden_size=16", "arch.puzzle_emb_ndim=16")
	// Two evaluations of two models, whose votes pool: on rank 0 of the
	// job, with the other rank's pool in PeerARCs.
	evaluate := func(g *dist.Group, out string) (res map[string]float64, err error) {
		mc := tc.ModelConfig(src.Meta.SeqLen, src.Meta.VocabSize, src.Meta.NumPuzzleIdentifiers)
		mc.BatchSize = batch / groupSize(g)
		be := cpu.New32(2 / groupSize(g))
		defer be.Close()
		arc, err := NewARC(dir, int32(src.Meta.BlankIdentifierID))
		if err != nil {
			return nil, err
		}
		opts := EvalOptions{GlobalBatch: batch, ARCs: []*ARC{arc}, Group: g, SubmissionDir: out, SaveOutputs: []string{"preds"}}
		if groupSize(g) > 1 && g.Rank() == 0 {
			opts.PeerARCs = emptyCopies(opts.ARCs, 1)
		}
		for _, seed := range []uint64{3, 4} {
			m, err := model.New(mc, be, seed)
			if err != nil {
				return nil, err
			}
			opts.OutputsPath = filepath.Join(out, fmt.Sprintf("preds-%d.%d.safetensors", seed, groupRank(g)))
			if res, err = Evaluate(context.Background(), m, src, opts); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	single := t.TempDir()
	want, err := evaluate(nil, single)
	if err != nil {
		t.Fatal(err)
	}
	job := t.TempDir()
	var got map[string]float64
	errs := inJob(t, 2, func(g *dist.Group) error {
		res, err := evaluate(g, job)
		if g.Rank() == 0 {
			got = res
		} else if res != nil {
			return fmt.Errorf("rank 1 returned metrics %v", res)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d test rows; %v", rows, want)
	if len(got) != len(want) || want["ARC/pass@1"] == 0 && want["all/exact_accuracy"] == 0 && want["all/accuracy"] == 0 {
		t.Fatalf("job %v, single process %v", got, want)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-6*max(1, math.Abs(w)) || strings.HasPrefix(k, "ARC/") && g != w {
			t.Errorf("%s: %v in the job, %v in the single process", k, g, w)
		}
	}
	a, err := os.ReadFile(filepath.Join(single, "submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(job, "submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the job's submission.json differs from the single process's")
	}
	whole := i32s(readOutputs(t, filepath.Join(single, "preds-4.0.safetensors"))["preds"])
	halves := slices.Concat(i32s(readOutputs(t, filepath.Join(job, "preds-4.0.safetensors"))["preds"]),
		i32s(readOutputs(t, filepath.Join(job, "preds-4.1.safetensors"))["preds"]))
	if !slices.Equal(whole, halves) {
		t.Error("the ranks' saved predictions, in rank order, are not the single process's")
	}
}

// miniARCDataset builds the first tasks of ARC-AGI-2's evaluation set (by
// name) with three augmented variants each, from the ARC files in shared/.
func miniARCDataset(t *testing.T, n int) string {
	t.Helper()
	prefix := arcDataPrefix(t)
	mini := filepath.Join(t.TempDir(), "mini")
	for _, kind := range []string{"challenges", "solutions"} {
		data, err := os.ReadFile(prefix + "_evaluation2_" + kind + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var tasks map[string]json.RawMessage
		if err := json.Unmarshal(data, &tasks); err != nil {
			t.Fatal(err)
		}
		keep := map[string]json.RawMessage{}
		for _, name := range slices.Sorted(maps.Keys(tasks))[:n] {
			keep[name] = tasks[name]
		}
		data, _ = json.Marshal(keep)
		if err := os.WriteFile(mini+"_evaluation2_"+kind+".json", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "arc")
	cfg := pipeline.ARCConfig{InputPrefix: mini, Subsets: []string{"evaluation2"}, TestSets: []string{"evaluation2"}, Aug: 3, Seed: 1, IdentifiersStart: 1}
	if _, err := pipeline.BuildARC(context.Background(), cfg, pipeline.Output{Dir: dir, Workers: 2, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}
