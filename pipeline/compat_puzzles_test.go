package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/nprand"
)

// puzzleCompatRun is one builder run of spec/sudoku-maze-builder-golden.json.
type puzzleCompatRun struct {
	Seed   int64 `json:"np_random_seed_before_build"`
	Config struct {
		Subsample     int  `json:"subsample_size"`
		NumAug        int  `json:"num_aug"`
		MinDifficulty *int `json:"min_difficulty"`
		Aug           bool `json:"aug"`
	} `json:"config"`
	NextRaw *uint32                    `json:"next_raw_uint32_after_build"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

// puzzleCompatRuns returns the golden's builder runs by name, and its
// input CSVs.
func puzzleCompatRuns(t *testing.T) (map[string]puzzleCompatRun, *golden) {
	t.Helper()
	data, err := os.ReadFile("testdata/sudoku-maze-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Runs map[string]puzzleCompatRun `json:"runs"`
	}
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	runs := map[string]puzzleCompatRun{}
	for name, r := range all.Runs {
		if r.Outputs != nil {
			runs[name] = r
		}
	}
	return runs, loadGolden(t)
}

// buildPuzzleCompat builds a golden run in numpy compat mode and returns
// the dataset directory and the stream's next raw draw after the build.
func buildPuzzleCompat(t *testing.T, g *golden, name string, run puzzleCompatRun, workers int) (string, uint32) {
	t.Helper()
	kind, _, _ := strings.Cut(name, "_")
	in := writeGoldenCSVs(t, g, kind)
	out := filepath.Join(t.TempDir(), "ds")
	o := Output{Dir: out, Workers: workers, Quiet: true}
	var next uint32
	done := func(rs *nprand.RandomState) { next = rs.Uint32() }
	var err error
	switch kind {
	case "sudoku":
		_, err = BuildSudoku(context.Background(), SudokuConfig{
			Input: in, Subsample: run.Config.Subsample, MinDifficulty: run.Config.MinDifficulty, Aug: run.Config.NumAug,
			Seed: run.Seed, Compat: CompatNumpy, numpyDone: done,
		}, o)
	case "maze":
		_, err = BuildMaze(context.Background(), MazeConfig{
			Input: in, Subsample: run.Config.Subsample, Aug: run.Config.Aug,
			Seed: run.Seed, Compat: CompatNumpy, numpyDone: done,
		}, o)
	default:
		t.Fatalf("run %s: unknown builder", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

// TestPuzzleCompatGolden rebuilds every Sudoku and Maze run of
// spec/sudoku-maze-builder-golden.json with --compat numpy and its seed, and
// compares every array (as rebuilt from the Parquet rows), dataset.json,
// identifiers.json and the stream's position after the build with the
// reference's, for 1 and 3 workers.
func TestPuzzleCompatGolden(t *testing.T) {
	runs, g := puzzleCompatRuns(t)
	if len(runs) != 4 {
		t.Fatalf("golden has %d builder runs, want 4", len(runs))
	}
	for name, run := range runs {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(t *testing.T) {
				dir, next := buildPuzzleCompat(t, g, name, run, workers)
				if run.NextRaw == nil || next != *run.NextRaw {
					t.Errorf("next raw draw after the build %d, want %v", next, run.NextRaw)
				}
				var wantIDs string
				json.Unmarshal(run.Outputs["identifiers.json"], &wantIDs)
				if ids, err := os.ReadFile(filepath.Join(dir, "identifiers.json")); err != nil || string(ids) != wantIDs {
					t.Errorf("identifiers.json %q (%v), want %q", ids, err, wantIDs)
				}
				for _, split := range []string{"train", "test"} {
					wantIn, wantLab, wantP, wantG, wantMeta := goldenSplit(t, g, name, split)
					wantIdent := goldenInts(t, run.Outputs[split], "all__puzzle_identifiers.npy")
					rows, meta := readSplit(t, dir, split)
					p, gi := indexArrays(rows)
					switch {
					case string(rows.Inputs) != string(wantIn):
						t.Errorf("%s inputs differ from the reference's", split)
					case string(rows.Labels) != string(wantLab):
						t.Errorf("%s labels differ from the reference's", split)
					case !slices.Equal(p, wantP):
						t.Errorf("%s puzzle_indices %v, want %v", split, p, wantP)
					case !slices.Equal(gi, wantG):
						t.Errorf("%s group_indices %v, want %v", split, gi, wantG)
					case !slices.Equal(puzzleIdentifiers(rows, p), wantIdent):
						t.Errorf("%s puzzle_identifiers %v, want %v", split, puzzleIdentifiers(rows, p), wantIdent)
					case meta != wantMeta:
						t.Errorf("%s dataset.json\n got %s\nwant %s", split, meta, wantMeta)
					}
				}
			})
		}
	}
}

// goldenInts returns a 1-d integer array of a golden split.
func goldenInts(t *testing.T, split json.RawMessage, name string) []int32 {
	t.Helper()
	var files map[string]json.RawMessage
	var a struct {
		Values []int32 `json:"values"`
	}
	if err := json.Unmarshal(split, &files); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(files[name], &a); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a.Values
}

// puzzleIdentifiers is the reference's puzzle_identifiers: the identifier
// of each puzzle's first row.
func puzzleIdentifiers(r *dataset.Rows, puzzleIdx []int32) []int32 {
	ids := make([]int32, 0, len(puzzleIdx)-1)
	for _, start := range puzzleIdx[:len(puzzleIdx)-1] {
		ids = append(ids, r.Identifiers[start])
	}
	return ids
}

// TestPuzzleCompatStream checks compat mode against its own spec on inputs
// the golden does not cover: the subsample is numpy's choice over the rows
// kept after --min-difficulty, every augmentation consumes one
// shuffle_sudoku sequence, the test split draws nothing, and a subsample as
// large as the input draws nothing either.
func TestPuzzleCompatStream(t *testing.T) {
	g := loadGolden(t)
	in := writeGoldenCSVs(t, g, "sudoku")
	// The golden train.csv has ratings 0..4; rows 2, 3, 4 are kept.
	kept, err := collectSudokus(filepath.Join(in, "train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	kept = kept[2:]
	for _, c := range []struct {
		subsample, aug int
	}{{2, 3}, {3, 1}, {5, 2}, {0, 0}} {
		const seed = 12345
		minDiff := 2
		var next uint32
		out := filepath.Join(t.TempDir(), "ds")
		_, err := BuildSudoku(context.Background(), SudokuConfig{
			Input: in, Subsample: c.subsample, MinDifficulty: &minDiff, Aug: c.aug, Seed: seed, Compat: CompatNumpy,
			numpyDone: func(rs *nprand.RandomState) { next = rs.Uint32() },
		}, Output{Dir: out, Workers: 2, Quiet: true})
		if err != nil {
			t.Fatal(err)
		}
		// The expected stream, drawn here in the reference's order.
		rs := nprand.New(seed)
		order := []int{0, 1, 2} // all kept rows, in file order
		if c.subsample > 0 && c.subsample < len(kept) {
			order = rs.Choice(len(kept), c.subsample)
		}
		var wantIn []byte
		for _, i := range order {
			wantIn = appendTokens(wantIn, kept[i].Question[:], 1)
			for range c.aug {
				s := numpySudokuShuffle(rs)
				var q [sudokuCells]byte
				s.Apply(q[:], kept[i].Question[:])
				wantIn = appendTokens(wantIn, q[:], 1)
			}
		}
		rows, _ := readSplit(t, out, "train")
		if string(rows.Inputs) != string(wantIn) {
			t.Errorf("subsample %d aug %d: train inputs differ from the stream's", c.subsample, c.aug)
		}
		if want := rs.Uint32(); next != want {
			t.Errorf("subsample %d aug %d: next raw draw %d, want %d", c.subsample, c.aug, next, want)
		}
	}
}

// collectSudokus reads every row of a Sudoku CSV.
func collectSudokus(path string) ([]sudokuPuzzle, error) {
	var all []sudokuPuzzle
	err := eachKept(path, func(row csvRow) (sudokuPuzzle, bool, error) {
		p, _, err := parseSudokuRow(path, row)
		return p, true, err
	}, func(p sudokuPuzzle) { all = append(all, p) })
	return all, err
}

func TestPuzzleCompatErrors(t *testing.T) {
	g := loadGolden(t)
	in := writeGoldenCSVs(t, g, "sudoku")
	cases := []struct {
		build func(out string) error
		want  string
	}{
		{func(out string) error {
			_, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Compat: "torch"}, Output{Dir: out, Quiet: true})
			return err
		}, `sudoku: unknown --compat "torch" (only "numpy")`},
		{func(out string) error {
			_, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Compat: CompatNumpy, Seed: 1 << 32}, Output{Dir: out, Quiet: true})
			return err
		}, "sudoku: --seed 4294967296: numpy's seed must be in 0..2^32-1"},
		{func(out string) error {
			_, err := BuildMaze(context.Background(), MazeConfig{Input: in, Compat: CompatNumpy, Seed: -1}, Output{Dir: out, Quiet: true})
			return err
		}, "maze: --seed -1: numpy's seed must be in 0..2^32-1"},
		{func(out string) error {
			_, err := BuildMaze(context.Background(), MazeConfig{Generate: 3, Compat: CompatNumpy}, Output{Dir: out, Quiet: true})
			return err
		}, "maze: --compat numpy reproduces the reference builder, which reads CSV files; it does not apply to --generate"},
	}
	for _, c := range cases {
		root := t.TempDir()
		err := c.build(filepath.Join(root, "ds"))
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("%q: a failed build left %v", c.want, entries)
		}
	}
	// The largest numpy seed is accepted.
	out := filepath.Join(t.TempDir(), "ds")
	if _, err := BuildSudoku(context.Background(), SudokuConfig{Input: in, Subsample: 2, Aug: 1, Compat: CompatNumpy, Seed: 1<<32 - 1}, Output{Dir: out, Quiet: true}); err != nil {
		t.Fatal(err)
	}
}
