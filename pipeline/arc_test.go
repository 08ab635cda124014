package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/dataset"
)

// naivePuzzleHash is the reference's puzzle_hash written as literally as
// spec 2.8 states it, with hex strings, to check the byte-sorted version.
func naivePuzzleHash(exs []*arcExample, v arcVariant) string {
	gridHash := func(g arcGrid) string {
		m := v.mapping()
		out := make([]byte, len(g.Cells))
		h, w := augment.DihedralRecolor(out, g.Cells, g.H, g.W, int(v.Trans), m)
		s := sha256.Sum256(append([]byte{byte(h), byte(w)}, out...))
		return hex.EncodeToString(s[:])
	}
	var parts []string
	for _, ex := range exs {
		parts = append(parts, gridHash(ex.Input)+"|"+gridHash(ex.Output))
	}
	sort.Strings(parts)
	s := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(s[:])
}

func randomARCGrid(rng *rand.Rand) arcGrid {
	g := arcGrid{H: 1 + rng.IntN(6), W: 1 + rng.IntN(6)}
	g.Cells = make([]byte, g.H*g.W)
	for i := range g.Cells {
		g.Cells[i] = byte(rng.IntN(3)) // few colours: many equal grids
	}
	return g
}

func TestARCHashes(t *testing.T) {
	// grid_hash of [[1,2,3],[4,5,6]] is sha256 of its shape bytes then cells.
	h := &arcHasher{}
	got := h.gridHash(arcGrid{H: 2, W: 3, Cells: []byte{1, 2, 3, 4, 5, 6}}, 0, identityVariant.mapping())
	if want := sha256.Sum256([]byte{2, 3, 1, 2, 3, 4, 5, 6}); got != want {
		t.Errorf("grid hash %x, want %x", got, want)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		var exs []*arcExample
		for range 1 + rng.IntN(5) {
			exs = append(exs, &arcExample{Input: randomARCGrid(rng), Output: randomARCGrid(rng), HasOutput: true})
		}
		v := drawARCVariant(rng.IntN)
		ph := h.puzzleHash(exs, &v)
		if got, want := hex.EncodeToString(ph[:]), naivePuzzleHash(exs, v); got != want {
			t.Fatalf("puzzle hash %s, want %s", got, want)
		}
		// Example order does not matter.
		rev := slices.Clone(exs)
		slices.Reverse(rev)
		if h.puzzleHash(rev, &v) != ph {
			t.Fatal("puzzle hash depends on example order")
		}
	}
}

func TestARCNames(t *testing.T) {
	v := arcVariant{Trans: 7, Colours: [10]byte{0, 6, 1, 2, 3, 9, 7, 8, 4, 5}}
	if got := arcPuzzleName("8be77c9e", v); got != "8be77c9e|||t7|||0612397845" {
		t.Errorf("name %q", got)
	}
	if got := v.suffix(); got != "t7|||0612397845" {
		t.Errorf("aug column %q", got)
	}
	// Drawn variants keep colour 0 and permute 1..9.
	rng := rand.New(rand.NewPCG(9, 10))
	for range 100 {
		v := drawARCVariant(rng.IntN)
		sorted := v.Colours
		slices.Sort(sorted[:])
		if v.Colours[0] != 0 || sorted != identityVariant.Colours || v.Trans > 7 {
			t.Fatalf("drawn variant %+v", v)
		}
	}
}

// cropARC reads the grid at the top-left corner of an untranslated canvas,
// as the evaluator does: up to the first non-colour cell of row and column 0.
func cropARC(canvas []byte) arcGrid {
	isColour := func(t byte) bool { return t >= 2 && t < 12 }
	var g arcGrid
	for g.W < 30 && isColour(canvas[g.W]) {
		g.W++
	}
	for g.H < 30 && isColour(canvas[g.H*30]) {
		g.H++
	}
	for r := range g.H {
		for c := range g.W {
			g.Cells = append(g.Cells, canvas[r*30+c]-2)
		}
	}
	return g
}

// invertARC applies the reference's inverse_aug for a puzzle name's
// transform (spec 2.6): undo the geometry, then the colours.
func invertARC(t *testing.T, suffix string, g arcGrid) arcGrid {
	t.Helper()
	tx, digits, ok := strings.Cut(suffix, "|||")
	tid, err := strconv.Atoi(strings.TrimPrefix(tx, "t"))
	if !ok || err != nil || len(digits) != 10 {
		t.Fatalf("aug %q is not t<k>|||<10 digits>", suffix)
	}
	perm := make([]byte, 10)
	for i := range perm {
		perm[i] = digits[i] - '0'
	}
	inv := augment.InversePermutation(perm)
	out := make([]byte, len(g.Cells))
	h, w := augment.Dihedral(out, g.Cells, g.H, g.W, augment.DihedralInverse[tid])
	augment.Recolor(out, out, inv)
	return arcGrid{H: h, W: w, Cells: out}
}

// TestARCTestSplitInverts builds a small dataset and maps every test-split
// example back through its puzzle's name: each must give the task's own
// test example, which checks canvas, transforms and names together.
func TestARCTestSplitInverts(t *testing.T) {
	prefix := arcDataPrefix(t)
	dir := filepath.Join(t.TempDir(), "ds")
	cfg := ARCConfig{InputPrefix: prefix, Subsets: []string{"evaluation2"}, TestSets: []string{"evaluation2"}, Aug: 4, Seed: 1, IdentifiersStart: 1}
	if _, err := BuildARC(context.Background(), cfg, Output{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	var testPuzzles map[string]struct {
		Test []struct{ Input, Output [][]byte } `json:"test"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "test_puzzles.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &testPuzzles); err != nil {
		t.Fatal(err)
	}
	var names []string
	if data, err = os.ReadFile(filepath.Join(dir, "identifiers.json")); err == nil {
		err = json.Unmarshal(data, &names)
	}
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.ReadSplit(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	example := 0
	for i := range rows.Len() {
		if i > 0 && rows.Puzzles[i] != rows.Puzzles[i-1] {
			example = 0
		}
		name := names[rows.Identifiers[i]]
		id, suffix, augmented := strings.Cut(name, "|||")
		if suffix != rows.Augs[i] {
			t.Fatalf("row %d: aug column %q, identifier names %q", i, rows.Augs[i], name)
		}
		task, ok := testPuzzles[id]
		if !ok || example >= len(task.Test) {
			t.Fatalf("row %d: puzzle %s has no test example %d", i, name, example)
		}
		for k, canvas := range [][]byte{rows.Inputs[i*900 : (i+1)*900], rows.Labels[i*900 : (i+1)*900]} {
			g := cropARC(canvas)
			if augmented {
				g = invertARC(t, suffix, g)
			}
			want := task.Test[example].Input
			if k == 1 {
				want = task.Test[example].Output
			}
			if g.H != len(want) || !slices.Equal(g.Cells, slices.Concat(want...)) {
				t.Fatalf("row %d (%s example %d): inverse of the canvas is %v, want %v", i, name, example, g, want)
			}
		}
		example++
		checked++
	}
	if checked == 0 {
		t.Fatal("empty test split")
	}
}

// shardSums lists every shard checksum of a dataset's manifest plus the
// top-level files: equal lists mean byte-identical datasets.
func shardSums(t *testing.T, dir string) []string {
	t.Helper()
	man, err := dataset.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, s := range man.Splits {
		for _, sh := range s.Shards {
			sums = append(sums, sh.File+" "+sh.SHA256)
		}
	}
	for _, f := range []string{"identifiers.json", "test_puzzles.json", "train/dataset.json", "test/dataset.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, f+" "+sumHex(data))
	}
	return sums
}

func TestARCDeterministicAcrossWorkers(t *testing.T) {
	prefix := arcDataPrefix(t)
	for _, compat := range []string{"", CompatNumpy} {
		cfg := ARCConfig{InputPrefix: prefix, Subsets: []string{"concept", "evaluation2"}, TestSets: []string{"evaluation2"}, Aug: 3, Seed: 5, IdentifiersStart: 1, Compat: compat}
		var want []string
		for _, workers := range []int{1, 2, 5} {
			dir := filepath.Join(t.TempDir(), "ds")
			// 1 MB shards: many shard boundaries, encoded concurrently.
			if _, err := BuildARC(context.Background(), cfg, Output{Dir: dir, Workers: workers, ShardMB: 1, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			got := shardSums(t, dir)
			if want == nil {
				want = got
				if len(got) < 10 {
					t.Fatalf("only %d shards: the test needs several", len(got))
				}
			} else if !slices.Equal(got, want) {
				t.Errorf("compat %q: %d workers wrote different bytes than 1 worker", compat, workers)
			}
		}
	}
}

// TestARCStreamsMatchReferenceCounts builds the ARC-1 README subsets with
// aug 8 from trm's own streams and compares with the reference's build of
// the same configuration (golden run B) wherever its random stream does not
// matter: group counts, split routing, metadata fields; puzzle counts only
// depend on de-duplication and must be within 1%.
func TestARCStreamsMatchReferenceCounts(t *testing.T) {
	prefix := arcDataPrefix(t)
	run := loadARCGolden(t)[1]
	dir := filepath.Join(t.TempDir(), "ds")
	cfg := ARCConfig{InputPrefix: prefix, Subsets: run.Config.Subsets, TestSets: []string{run.Config.TestSet}, Aug: run.Config.Aug, Seed: 42, IdentifiersStart: 1}
	if _, err := BuildARC(context.Background(), cfg, Output{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "test"} {
		var golden map[string]goldenNPY
		if err := json.Unmarshal(run.Outputs[split], &golden); err != nil {
			t.Fatal(err)
		}
		want, err := dataset.ParseMetadata("golden", []byte(golden["dataset.json"].Text))
		if err != nil {
			t.Fatal(err)
		}
		got, err := dataset.ReadMetadata(dir, split)
		if err != nil {
			t.Fatal(err)
		}
		near := func(a, b float64) bool { return a >= 0.99*b && a <= 1.01*b }
		if got.TotalGroups != want.TotalGroups || !near(float64(got.TotalPuzzles), float64(want.TotalPuzzles)) ||
			!near(float64(got.NumPuzzleIdentifiers), float64(want.NumPuzzleIdentifiers)) || !near(got.MeanPuzzleExamples, want.MeanPuzzleExamples) {
			t.Errorf("%s: dataset.json\n got %s\nwant %s", split, got.MarshalReference(), want.MarshalReference())
		}
		got.TotalGroups, got.TotalPuzzles, got.NumPuzzleIdentifiers, got.MeanPuzzleExamples = want.TotalGroups, want.TotalPuzzles, want.NumPuzzleIdentifiers, want.MeanPuzzleExamples
		if string(got.MarshalReference()) != string(want.MarshalReference()) {
			t.Errorf("%s: fixed fields differ:\n got %s\nwant %s", split, got.MarshalReference(), want.MarshalReference())
		}
	}
	// test_puzzles.json holds the same tasks as the reference's, in another
	// order: same length, same first-level key set as evaluation.
	data, err := os.ReadFile(filepath.Join(dir, "test_puzzles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tp map[string]json.RawMessage
	if err := json.Unmarshal(data, &tp); err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(run.Outputs["test_puzzles.json"], &g); err != nil {
		t.Fatal(err)
	}
	if len(tp) != g.N {
		t.Errorf("test_puzzles.json has %d tasks, want %d", len(tp), g.N)
	}
	for _, k := range g.First {
		if _, ok := tp[k]; !ok {
			t.Errorf("test_puzzles.json lacks %s", k)
		}
	}
}

func TestARCConfigErrors(t *testing.T) {
	base := ARCConfig{InputPrefix: "x", Subsets: []string{"a", "b"}, TestSets: []string{"b"}, Aug: 1, IdentifiersStart: 1}
	for _, c := range []struct {
		edit func(*ARCConfig)
		want string
	}{
		{func(c *ARCConfig) { c.TestSets = []string{"c"} }, "test set c is not among the subsets [a b]"},
		{func(c *ARCConfig) { c.Subsets = []string{"a", "b", "a"} }, "subset a listed twice"},
		{func(c *ARCConfig) { c.Aug = -1 }, "--aug -1 is negative"},
		{func(c *ARCConfig) { c.IdentifiersStart = 0 }, "--identifiers-start 0"},
		{func(c *ARCConfig) { c.Compat = "torch" }, `unknown --compat "torch"`},
		{func(c *ARCConfig) { c.Compat, c.Seed = CompatNumpy, 1<<32 }, "numpy's seed must be in 0..2^32-1"},
	} {
		cfg := base
		c.edit(&cfg)
		if err := cfg.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// TestARCBadInputWritesNothing checks that an error in the last subset
// leaves no dataset (not even a partial directory) behind.
func TestARCBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	writeARCSubset(t, dir, "a", arcSampleTask, "")
	writeARCSubset(t, dir, "b", `{"bad": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]}}`, "")
	out := filepath.Join(dir, "out")
	_, err := BuildARC(context.Background(), ARCConfig{InputPrefix: filepath.Join(dir, "x"), Subsets: []string{"a", "b"}, TestSets: []string{"a"}, Aug: 2, IdentifiersStart: 1}, Output{Dir: out, Quiet: true})
	want := fmt.Sprintf("%s: task bad: train example 0: input: ragged grid", filepath.Join(dir, "x_b_challenges.json"))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "out") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}

// TestARCTinyBuild checks a hand-sized build end to end: identifiers from
// --identifiers-start with blanks below, the split routing of a test set
// and another subset, the test split reusing train identifiers.
func TestARCTinyBuild(t *testing.T) {
	dir := t.TempDir()
	writeARCSubset(t, dir, "a", arcSampleTask, `{"t1": [[[1]]], "t2": [[[2]]]}`)
	writeARCSubset(t, dir, "b", `{"u": {"train": [{"input": [[1, 2]], "output": [[3]]}, {"input": [[4]], "output": [[5, 6]]}], "test": [{"input": [[7]]}]}}`, "")
	out := filepath.Join(dir, "out")
	var warnings []string
	cfg := ARCConfig{InputPrefix: filepath.Join(dir, "x"), Subsets: []string{"a", "b"}, TestSets: []string{"b"}, Aug: 2, Seed: 3, IdentifiersStart: 3,
		Warn: func(s string) { warnings = append(warnings, s) }}
	rep, err := BuildARC(context.Background(), cfg, Output{Dir: out, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(warnings, "b solutions not found, filling with dummy") {
		t.Errorf("warnings %q", warnings)
	}
	// Train: t1 (3 examples), t2 (2) and u's 2 train examples, 3 puzzles
	// each (every task has several colours, so 2 distinct variants exist);
	// test: u's test example in its 3 puzzles.
	tr, te := rep.Splits["train"], rep.Splits["test"]
	if tr.Groups != 3 || te.Groups != 1 || tr.Puzzles != 9 || te.Puzzles != 3 || tr.Rows != 3*(3+2+2) || te.Rows != 3 {
		t.Errorf("train %+v, test %+v", tr, te)
	}
	var names []string
	data, err := os.ReadFile(filepath.Join(out, "identifiers.json"))
	if err == nil {
		err = json.Unmarshal(data, &names)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3+9 || names[0] != "<blank>" || names[2] != "<blank>" || strings.Contains(names[3], "|||") {
		t.Errorf("identifiers %q", names)
	}
	meta, err := dataset.ReadMetadata(out, "test")
	if err != nil {
		t.Fatal(err)
	}
	if meta.NumPuzzleIdentifiers != 12 || meta.TotalPuzzles != 3 {
		t.Errorf("test dataset.json %s", meta.MarshalReference())
	}
	tp, err := os.ReadFile(filepath.Join(out, "test_puzzles.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"u": {"train": [{"input": [[1, 2]], "output": [[3]]}, {"input": [[4]], "output": [[5, 6]]}], "test": [{"input": [[7]], "output": [[0]]}]}}`; string(tp) != want {
		t.Errorf("test_puzzles.json %s\nwant %s", tp, want)
	}
	ds, err := dataset.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.Verify(context.Background(), ds, dataset.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
