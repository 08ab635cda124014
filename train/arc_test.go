package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/pipeline"
)

// arcDataPrefix finds ../shared/data/arc from the repository root, or skips.
func arcDataPrefix(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../shared/data/arc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "arc-agi_concept_challenges.json")); err != nil {
		t.Skipf("ARC JSON files not found at %s (needed to rebuild the golden dataset): %v", dir, err)
	}
	return filepath.Join(dir, "arc-agi")
}

type arcEvalGolden struct {
	Metrics         map[string]float64         `json:"metrics"`
	SubmissionSHA   string                     `json:"submission_sha256"`
	SubmissionFirst map[string]json.RawMessage `json:"submission_first2"`
}

// TestARCEvaluatorGolden rebuilds the A_small ARC dataset with the
// reference's RNG, feeds the golden scenario's synthetic predictions through
// the evaluation loader and compares pass@K and submission.json with
// spec/arc-eval-golden.json.
func TestARCEvaluatorGolden(t *testing.T) {
	prefix := arcDataPrefix(t)
	var golden arcEvalGolden
	data, err := os.ReadFile("testdata/arc-eval-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ds")
	cfg := pipeline.ARCConfig{InputPrefix: prefix, Subsets: []string{"concept", "evaluation2"},
		TestSets: []string{"evaluation2"}, Aug: 3, Seed: 42, IdentifiersStart: 1, Compat: pipeline.CompatNumpy}
	ctx := context.Background()
	if _, err := pipeline.BuildARC(ctx, cfg, pipeline.Output{Dir: dir, Workers: 2, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	src, l := openTestSplit(t, dir, 64)
	ev, err := NewARC(dir, int32(src.Meta.BlankIdentifierID))
	if err != nil {
		t.Fatal(err)
	}
	batches := voteGoldenScenario(t, l, ev)
	// The votes survive a checkpoint round trip.
	restored, err := NewARC(dir, int32(src.Meta.BlankIdentifierID))
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshalARCStates(marshalARCStates([]*ARC{ev}), []*ARC{restored}); err != nil {
		t.Fatal(err)
	}
	checkARCGolden(t, restored, golden, batches)

	// Two ranks, each voting on its half of one batch of every row, merge
	// in rank order into the one evaluator's votes.
	rows := countTestRows(t, src)
	var ranks [][]*ARC
	for rank := range 2 {
		l, err := loader.New(src, loader.Config{Sampler: loader.Eval, GlobalBatch: rows + rows%2, Rank: rank, WorldSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := NewARC(dir, int32(src.Meta.BlankIdentifierID))
		if err != nil {
			t.Fatal(err)
		}
		if n := voteGoldenScenario(t, l, ev); n != 1 {
			t.Fatalf("rank %d: %d batches, want 1", rank, n)
		}
		l.Close()
		ranks = append(ranks, []*ARC{ev})
	}
	checkARCGolden(t, mergeARCs(ranks)[0], golden, 1)
	// Merging leaves the evaluator it copies from as it was.
	checkARCGolden(t, restored, golden, batches)
}

// countTestRows is the number of examples in src's test split.
func countTestRows(t *testing.T, src *loader.Source) int {
	t.Helper()
	l, err := loader.New(src, loader.Config{Sampler: loader.Eval, GlobalBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rows := 0
	eachBatch(t, l, func(b *loader.Batch) {
		for _, id := range b.PuzzleIdentifiers {
			if id != int32(src.Meta.BlankIdentifierID) {
				rows++
			}
		}
	})
	return rows
}

// voteGoldenScenario feeds ev the golden scenario's synthetic predictions
// for every batch of l (the labels, one cell changed for every third
// identifier, q from the identifier) and returns the number of batches.
func voteGoldenScenario(t *testing.T, l *loader.Loader, ev *ARC) int {
	t.Helper()
	ev.BeginEval()
	var inputs, preds []int32
	batches := 0
	eachBatch(t, l, func(b *loader.Batch) {
		batches++
		inputs = b.WidenInputs(inputs)
		preds = preds[:0]
		q := make([]float64, b.LocalBatch())
		for i, id := range b.PuzzleIdentifiers {
			row := b.Labels[i*b.SeqLen : (i+1)*b.SeqLen]
			start := len(preds)
			for _, tok := range row {
				preds = append(preds, int32(tok))
			}
			if id%3 == 0 {
				for j := start; j < len(preds); j++ {
					if preds[j] >= 2 {
						preds[j] = 2 + (preds[j]-2+1)%10
						break
					}
				}
			}
			q[i] = float64(float32(float64(id%7-3) * 0.5))
		}
		if err := ev.Update(inputs, preds, b.PuzzleIdentifiers, q); err != nil {
			t.Fatal(err)
		}
	})
	return batches
}

// checkARCGolden compares ev's pass@K and submission.json with the golden.
func checkARCGolden(t *testing.T, ev *ARC, golden arcEvalGolden, batches int) {
	t.Helper()
	out := t.TempDir()
	metrics, err := ev.Result(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(metrics, golden.Metrics) {
		t.Errorf("metrics %v, want %v", metrics, golden.Metrics)
	}
	sub, err := os.ReadFile(filepath.Join(out, "submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sub)
	if got := hex.EncodeToString(sum[:]); got != golden.SubmissionSHA {
		var parsed map[string]json.RawMessage
		json.Unmarshal(sub, &parsed)
		for name, want := range golden.SubmissionFirst {
			var g, w any
			json.Unmarshal(parsed[name], &g)
			json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("submission[%s] differs from the golden", name)
			}
		}
		t.Errorf("submission.json sha256 %s, want %s (%d batches, starts %.200s)", got, golden.SubmissionSHA, batches, sub)
	}
}

// TestMergeARCsRankOrder: votes tied in count and mean q rank in
// first-seen order, so the ranks' votes must merge in rank order (the
// reference's gather), rank 0's first.
func TestMergeARCsRankOrder(t *testing.T) {
	in, right, wrong := grid{1, 1, []byte{1}}, grid{1, 1, []byte{2}}, grid{1, 1, []byte{3}}
	proto := &ARC{SubmissionK: 2, PassKs: []int{1, 2}, tasks: []arcTask{{name: "t", tests: []arcPair{{in, right, true}}}}}
	rank := func(g grid) []*ARC {
		a := emptyCopies([]*ARC{proto}, 1)[0]
		a[0].hmap[g.hash()] = g
		a[0].preds["t"] = map[[sha256.Size]byte][]vote{in.hash(): {{g.hash(), 0.5}}}
		return a
	}
	for _, c := range []struct {
		first, second grid
		pass1         float64
	}{{right, wrong, 1}, {wrong, right, 0}} {
		first := rank(c.first)
		res, err := mergeARCs([][]*ARC{first, rank(c.second)})[0].Result("")
		if err != nil {
			t.Fatal(err)
		}
		if res["ARC/pass@1"] != c.pass1 || res["ARC/pass@2"] != 1 {
			t.Errorf("rank 0 voting %v, rank 1 %v: %v, want pass@1 %v and pass@2 1", c.first.Cells, c.second.Cells, res, c.pass1)
		}
		if n := len(first[0].preds["t"][in.hash()]); n != 1 {
			t.Errorf("merging changed rank 0's evaluator: %d votes", n)
		}
	}
}
