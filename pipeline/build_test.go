package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/nprand"
)

// golden is the part of spec/sudoku-maze-builder-golden.json these tests use.
type golden struct {
	InputCSVs map[string]string `json:"input_csvs"`
	Runs      map[string]struct {
		Outputs map[string]json.RawMessage `json:"outputs"`
		Results map[string][]struct {
			Board [9][9]int `json:"board"`
		} `json:"results"`
	} `json:"runs"`
}

type goldenArray struct {
	Values json.RawMessage `json:"values"`
}

func loadGolden(t *testing.T) *golden {
	t.Helper()
	data, err := os.ReadFile("testdata/sudoku-maze-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// goldenSplit returns a run's arrays of one split: tokens flattened, the
// index arrays, and dataset.json.
func goldenSplit(t *testing.T, g *golden, run, split string) (inputs, labels []byte, puzzleIdx, groupIdx []int32, meta string) {
	t.Helper()
	var files map[string]json.RawMessage
	if err := json.Unmarshal(g.Runs[run].Outputs[split], &files); err != nil {
		t.Fatal(err)
	}
	tokens := func(name string) []byte {
		var a goldenArray
		var rows [][]int
		json.Unmarshal(files[name], &a)
		json.Unmarshal(a.Values, &rows)
		var out []byte
		for _, r := range rows {
			for _, v := range r {
				out = append(out, byte(v))
			}
		}
		return out
	}
	ints := func(name string) []int32 {
		var a goldenArray
		var v []int32
		json.Unmarshal(files[name], &a)
		json.Unmarshal(a.Values, &v)
		return v
	}
	json.Unmarshal(files["dataset.json"], &meta)
	return tokens("all__inputs.npy"), tokens("all__labels.npy"), ints("all__puzzle_indices.npy"), ints("all__group_indices.npy"), meta
}

// writeGoldenCSVs writes the golden's tiny input CSVs for a builder.
func writeGoldenCSVs(t *testing.T, g *golden, kind string) string {
	t.Helper()
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		if err := os.WriteFile(filepath.Join(dir, split+".csv"), []byte(g.InputCSVs[kind+"_"+split+".csv"]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readSplit reads a split's rows back from the Parquet shards.
func readSplit(t *testing.T, dir, split string) (*dataset.Rows, string) {
	t.Helper()
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.Verify(context.Background(), ds, dataset.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	all, err := ds.ReadSplit(context.Background(), split)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(dir, split, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	return all, string(text)
}

// indexArrays rebuilds the reference's puzzle_indices and group_indices
// from the per-row columns.
func indexArrays(r *dataset.Rows) (puzzleIdx, groupIdx []int32) {
	puzzleIdx, groupIdx = []int32{0}, []int32{0}
	for i := range r.Len() {
		if i == r.Len()-1 || r.Puzzles[i+1] != r.Puzzles[i] {
			puzzleIdx = append(puzzleIdx, int32(i+1))
			if i == r.Len()-1 || r.Groups[i+1] != r.Groups[i] {
				groupIdx = append(groupIdx, r.Puzzles[i]+1)
			}
		}
	}
	return
}

// TestSudokuTestSplitMatchesGolden: the test split has no randomness, so
// the reference's arrays and dataset.json must come out exactly.
func TestSudokuTestSplitMatchesGolden(t *testing.T) {
	g := loadGolden(t)
	in := writeGoldenCSVs(t, g, "sudoku")
	out := filepath.Join(t.TempDir(), "ds")
	if _, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Subsample: 3, Aug: 2}, Output{Dir: out, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	wantIn, wantLab, wantP, wantG, wantMeta := goldenSplit(t, g, "sudoku_seed0", "test")
	rows, meta := readSplit(t, out, "test")
	p, gi := indexArrays(rows)
	if string(rows.Inputs) != string(wantIn) || string(rows.Labels) != string(wantLab) || !slices.Equal(p, wantP) || !slices.Equal(gi, wantG) {
		t.Fatal("test split differs from the reference's")
	}
	if meta != wantMeta {
		t.Fatalf("dataset.json\n got %s\nwant %s", meta, wantMeta)
	}
	// The train split: 3 groups of 1+2 puzzles; every group's first row is
	// an original row of train.csv, the others valid shuffles of it.
	rows, meta = readSplit(t, out, "train")
	_, _, _, _, wantMeta = goldenSplit(t, g, "sudoku_seed0", "train")
	if meta != wantMeta {
		t.Fatalf("train dataset.json\n got %s\nwant %s", meta, wantMeta)
	}
	if rows.Len() != 9 {
		t.Fatalf("%d train rows, want 9", rows.Len())
	}
	for i := range rows.Len() {
		label := rows.Labels[i*81 : (i+1)*81]
		digits := make([]byte, 81)
		for k, tok := range label {
			digits[k] = tok - 1
		}
		if !augment.ValidSudoku(digits) || (i%3 == 0) != (rows.Augs[i] == "") {
			t.Fatalf("train row %d: invalid solution or wrong aug %q", i, rows.Augs[i])
		}
	}
}

// TestSudokuShuffleMatchesReference replays numpy's draws (seeded as the
// golden) through the shuffle: the boards must equal shuffle_sudoku's.
func TestSudokuShuffleMatchesReference(t *testing.T) {
	g := loadGolden(t)
	base := digitsOf("123456789456789123789123456234567891567891234891234567345678912678912345912345678")
	results := g.Runs["shuffle_sudoku_direct"].Results
	if len(results) != 3 {
		t.Fatalf("golden has %d seeds", len(results))
	}
	for seed, boards := range results {
		var s uint32
		for _, c := range seed {
			s = s*10 + uint32(c-'0')
		}
		rng := nprand.New(s)
		for call, want := range boards {
			perm := func(n int) []int { return rng.Permutation(n) }
			var digits [9]byte
			for i, v := range perm(9) {
				digits[i] = byte(v + 1)
			}
			transpose := rng.RandomSample() < 0.5
			p3 := func() (p [3]int) { copy(p[:], perm(3)); return }
			bands := p3()
			rows := [3][3]int{p3(), p3(), p3()}
			stacks := p3()
			cols := [3][3]int{p3(), p3(), p3()}
			sh, err := augment.NewSudokuShuffle(digits, transpose, bands, rows, stacks, cols)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 81)
			sh.Apply(out, base)
			for r := range 9 {
				for c := range 9 {
					if int(out[r*9+c]) != want.Board[r][c] {
						t.Fatalf("seed %s call %d: cell (%d,%d) = %d, want %d", seed, call, r, c, out[r*9+c], want.Board[r][c])
					}
				}
			}
		}
	}
}

func digitsOf(s string) []byte {
	g := make([]byte, len(s))
	for i := range s {
		g[i] = s[i] - '0'
	}
	return g
}

// TestMazeMatchesGolden: the test split exactly, and with --aug the train
// groups as a set (their order comes from the subsample's random stream).
func TestMazeMatchesGolden(t *testing.T) {
	g := loadGolden(t)
	in := writeGoldenCSVs(t, g, "maze")
	out := filepath.Join(t.TempDir(), "ds")
	if _, err := BuildMaze(context.Background(), MazeConfig{Input: in, Subsample: 2, Aug: true}, Output{Dir: out, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"test", "train"} {
		wantIn, wantLab, wantP, wantG, wantMeta := goldenSplit(t, g, "maze_aug1", split)
		rows, meta := readSplit(t, out, split)
		if meta != wantMeta {
			t.Fatalf("%s dataset.json\n got %s\nwant %s", split, meta, wantMeta)
		}
		p, gi := indexArrays(rows)
		if !slices.Equal(p, wantP) || !slices.Equal(gi, wantG) {
			t.Fatalf("%s: indices %v %v, want %v %v", split, p, gi, wantP, wantG)
		}
		groupsOf := func(inputs, labels []byte) []string {
			per := 16 * (len(wantP) - 1) / (len(wantG) - 1)
			var out []string
			for i := 0; i < len(inputs); i += per {
				out = append(out, string(inputs[i:i+per])+"|"+string(labels[i:i+per]))
			}
			sort.Strings(out)
			return out
		}
		if !slices.Equal(groupsOf(rows.Inputs, rows.Labels), groupsOf(wantIn, wantLab)) {
			t.Fatalf("%s: groups differ from the reference's", split)
		}
	}
}

// TestBuildsAreDeterministic: same seed, same shard bytes, whatever the
// worker count; another seed changes them.
func TestBuildsAreDeterministic(t *testing.T) {
	build := func(workers int, seed int64, kind string) []string {
		out := filepath.Join(t.TempDir(), "ds")
		o := Output{Dir: out, Workers: workers, ShardMB: 1, Quiet: true}
		var err error
		if kind == "sudoku" {
			_, err = BuildSudoku(context.Background(), SudokuConfig{Generate: 40, GenerateTest: 5, Aug: 200, Seed: seed}, o)
		} else {
			_, err = BuildMaze(context.Background(), MazeConfig{Generate: 30, GenerateTest: 5, Size: 15, Aug: true, Seed: seed}, o)
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := dataset.ReadManifest(out)
		if err != nil {
			t.Fatal(err)
		}
		var sums []string
		for _, s := range m.Splits {
			for _, sh := range s.Shards {
				sums = append(sums, sh.File+" "+sh.SHA256)
			}
		}
		return sums
	}
	for _, kind := range []string{"sudoku", "maze"} {
		one, two, five := build(1, 7, kind), build(2, 7, kind), build(5, 7, kind)
		if len(one) < 2 && kind == "sudoku" {
			t.Fatalf("want several shards, got %v", one)
		}
		if !slices.Equal(one, two) || !slices.Equal(one, five) {
			t.Fatalf("%s: shards differ across worker counts:\n%v\n%v\n%v", kind, one, two, five)
		}
		if slices.Equal(one, build(2, 8, kind)) {
			t.Fatalf("%s: another seed gave the same bytes", kind)
		}
	}
}

const sudokuHeader = "source,question,answer,rating\n"

func TestBadSudokuRows(t *testing.T) {
	good := "s,.23.56.89.56.89.23.89.23.56.34.67.91.67.91.34.91.34.67.45.78.12.78.12.45.12.45.78,123456789456789123789123456234567891567891234891234567345678912678912345912345678,3\n"
	cases := map[string]struct{ row, want string }{
		"columns":        {"s,x,y\n", "test.csv:3: wrong number of columns"},
		"short question": {strings.Replace(good, ".23", "23", 1), "test.csv:3: question: 80 characters"},
		"bad char":       {strings.Replace(good, ".23", "x23", 1), "test.csv:3: question: character 1 is 'x'"},
		"contradiction":  {strings.Replace(good, ".23", "923", 1), "test.csv:3: answer: cell 1 is 1 but the question gives 9"},
		"invalid answer": {strings.Replace(good, "123456789456", "213456789456", 1), "test.csv:3: answer: "},
		"rating":         {strings.Replace(good, ",3\n", ",hard\n", 1), "test.csv:3: rating"},
		"quote":          {"s,\"abc,1,2\n", "test.csv:3"},
	}
	for name, c := range cases {
		in := t.TempDir()
		os.WriteFile(filepath.Join(in, "train.csv"), []byte(sudokuHeader+good), 0o644)
		os.WriteFile(filepath.Join(in, "test.csv"), []byte(sudokuHeader+good+c.row), 0o644)
		root := t.TempDir()
		_, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Aug: 2}, Output{Dir: filepath.Join(root, "ds"), Quiet: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("%s: a failed build left %v", name, entries)
		}
		// With --skip-invalid the row is skipped and counted, except for a
		// CSV syntax error, which has no row to skip.
		if name == "columns" || name == "quote" {
			continue
		}
		rep, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Aug: 2, SkipInvalid: true}, Output{Dir: filepath.Join(root, "ds"), Quiet: true})
		if err != nil || rep.Skipped() != 1 || rep.Splits["test"].Rows != 1 {
			t.Errorf("%s: skip-invalid: %v, report %+v", name, err, rep)
		}
		os.RemoveAll(filepath.Join(root, "ds"))
	}
}

func TestBadMazeRows(t *testing.T) {
	good := "m,#####S  ##  G###,#####Soo##  G###,0\n"
	cases := map[string]struct{ first, row, want string }{
		"non-square": {"m,#####,#####,0\n", "", "train.csv:2: question: 5 characters is not a square grid"},
		"length":     {good, "m,#####S  ##  G##,#####Soo##  G###,0\n", "train.csv:3: question: 15 characters, want 16"},
		"charset":    {good, "m,#####S  ##  GX##,#####Soo##  G###,0\n", "train.csv:3: question: character 14 is 'X'"},
		"header":     {"", "", "train.csv:1: header"},
	}
	for name, c := range cases {
		in := t.TempDir()
		header := sudokuHeader
		if name == "header" {
			header = "a,b,c,d\n"
		}
		os.WriteFile(filepath.Join(in, "train.csv"), []byte(header+c.first+c.row), 0o644)
		os.WriteFile(filepath.Join(in, "test.csv"), []byte(sudokuHeader+good), 0o644)
		root := t.TempDir()
		_, err := BuildMaze(context.Background(), MazeConfig{Input: in}, Output{Dir: filepath.Join(root, "ds"), Quiet: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("%s: a failed build left %v", name, entries)
		}
	}
}

func TestCancelledBuildLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	_, err := BuildSudoku(ctx, SudokuConfig{Generate: 50, Aug: 100}, Output{Dir: filepath.Join(root, "ds"), Quiet: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("a cancelled build left %v", entries)
	}
}
