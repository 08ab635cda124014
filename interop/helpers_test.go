package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
)

// testSplit is a split of a test dataset, as groups to write.
type testSplit struct {
	name   string
	groups []*dataset.Group
}

// testDataset describes a dataset for the tests.
type testDataset struct {
	builder     string
	shape       [2]int
	vocab       int
	splits      []testSplit
	identifiers []string // identifiers.json
	testPuzzles string   // test_puzzles.json, if not empty
	// groupsAsPuzzles stores total_groups as total_puzzles, as the
	// reference Sudoku and Maze builders do (quirk Q-S2).
	groupsAsPuzzles bool
	shardBytes      int64 // 0: tiny shards, so that every split spans several
}

// sudokuLike has a train split of groups of 1+aug one-example puzzles,
// the shuffles recorded in aug, and an unaugmented test split: the layout
// of the reference Sudoku builder.
func sudokuLike(trainGroups, aug, testGroups int, seed uint64) testDataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	grid := func() []byte {
		b := make([]byte, 81)
		for i := range b {
			b[i] = byte(1 + rng.IntN(10))
		}
		return b
	}
	split := func(name string, n, aug int) testSplit {
		s := testSplit{name: name}
		for range n {
			g := &dataset.Group{}
			for a := range 1 + aug {
				g.Inputs = append(g.Inputs, grid()...)
				g.Labels = append(g.Labels, grid()...)
				name := ""
				if a > 0 {
					name = fmt.Sprintf("d%09d|t%d|r012345678|c012345678", rng.IntN(1e9), rng.IntN(2))
				}
				g.AddPuzzle(1, 0, name)
			}
			s.groups = append(s.groups, g)
		}
		return s
	}
	return testDataset{
		builder: "sudoku", shape: [2]int{9, 9}, vocab: 11,
		splits:          []testSplit{split("train", trainGroups, aug), split("test", testGroups, 0)},
		identifiers:     []string{"<blank>"},
		groupsAsPuzzles: true,
	}
}

// arcLike has groups of an original task and its augmented variants, each
// variant its own puzzle with several examples, named as the reference ARC
// builder names them; the test split reuses the train names.
func arcLike(tasks, aug int, seed uint64) testDataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	names := []string{"<blank>"}
	ids := map[string]int32{}
	id := func(name string) int32 {
		if v, ok := ids[name]; ok {
			return v
		}
		ids[name] = int32(len(names))
		names = append(names, name)
		return ids[name]
	}
	rows := func(g *dataset.Group, n int) {
		for range n * 900 {
			g.Inputs = append(g.Inputs, byte(rng.IntN(12)))
			g.Labels = append(g.Labels, byte(rng.IntN(12)))
		}
	}
	variants := make([][]string, tasks)
	train := testSplit{name: "train"}
	for t := range tasks {
		g := &dataset.Group{}
		task := fmt.Sprintf("%08x", rng.Uint32())
		variants[t] = []string{task}
		for a := range aug {
			variants[t] = append(variants[t], fmt.Sprintf("%s|||t%d|||0%s", task, rng.IntN(8), "123456789"[a%9:]+"123456789"[:a%9]))
		}
		for _, name := range variants[t] {
			ex := 1 + rng.IntN(4)
			rows(g, ex)
			g.AddPuzzle(ex, id(name), augOf(name))
		}
		train.groups = append(train.groups, g)
	}
	test := testSplit{name: "test"}
	for t := range tasks {
		g := &dataset.Group{}
		for _, name := range variants[t] {
			rows(g, 1)
			g.AddPuzzle(1, id(name), augOf(name))
		}
		test.groups = append(test.groups, g)
	}
	return testDataset{
		builder: "arc", shape: [2]int{30, 30}, vocab: 12, splits: []testSplit{train, test},
		identifiers: names, testPuzzles: `{"0a1b2c3d": {"train": [], "test": [{"input": [[1]], "output": [[2]]}]}}`,
	}
}

// write creates the dataset at dir with tiny shards and row groups, so that
// every split spans several shards and record batches.
func (td testDataset) write(t testing.TB, dir string) *dataset.Dataset {
	t.Helper()
	shardBytes, rowGroupBytes := td.shardBytes, td.shardBytes/4
	if shardBytes == 0 {
		shardBytes, rowGroupBytes = 20000, 6000
	}
	w, err := dataset.Create(dir, dataset.Options{ShardBytes: shardBytes, RowGroupBytes: rowGroupBytes, Workers: 2,
		Builder: dataset.Builder{Name: td.builder, Config: []byte(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, s := range td.splits {
		sw, err := w.CreateSplit(dataset.SplitSpec{Name: s.name, VocabSize: td.vocab, GridShape: td.shape})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range s.groups {
			if err := sw.WriteGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		st := sw.Stats()
		meta := dataset.Metadata{IgnoreLabelID: dataset.IntPtr(0), VocabSize: td.vocab, SeqLen: td.shape[0] * td.shape[1],
			NumPuzzleIdentifiers: len(td.identifiers), TotalGroups: int(st.Groups), TotalPuzzles: int(st.Puzzles),
			MeanPuzzleExamples: float64(st.Rows) / float64(st.Puzzles), Sets: []string{"all"}}
		if td.groupsAsPuzzles {
			meta.TotalPuzzles = int(st.Groups)
		}
		if err := sw.Close(meta); err != nil {
			t.Fatal(err)
		}
	}
	ids := "["
	for i, n := range td.identifiers {
		if i > 0 {
			ids += ", "
		}
		ids += dataset.PythonString(n)
	}
	if err := w.WriteFile(FileIdentifiers, []byte(ids+"]")); err != nil {
		t.Fatal(err)
	}
	if td.testPuzzles != "" {
		if err := w.WriteFile(FileTestPuzzles, []byte(td.testPuzzles)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return openDataset(t, dir)
}

func openDataset(t testing.TB, dir string) *dataset.Dataset {
	t.Helper()
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.Verify(context.Background(), ds, dataset.VerifyOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return ds
}

// splitRows reads all rows of a split, in order.
func splitRows(t testing.TB, ds *dataset.Dataset, split string) *dataset.Rows {
	t.Helper()
	all, err := ds.ReadSplit(context.Background(), split)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// fileHashes maps every file under dir (relative path) to its sha256.
func fileHashes(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sum := sha256.Sum256(data)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
