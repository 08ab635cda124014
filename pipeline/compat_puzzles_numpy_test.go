package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/nprand"
)

// Debian's python3 carries numpy; the python3 on PATH may not.
const numpyPython = "/usr/bin/python3"

// referenceCompatScript replays, with the real numpy, the reference Sudoku
// and Maze builders' use of the global stream as spec/reference-data.md
// sections 3 and 4 describe it (argv: kind, input dir, seed, subsample,
// min difficulty or -1, aug) and prints the token arrays of both splits
// and the next raw draw as JSON.
const referenceCompatScript = `
import csv, json, sys, numpy as np
kind, src, seed, subsample, min_diff, aug = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
np.random.seed(seed)

def rows(split):
    with open(f"{src}/{split}.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        out = [(q, a) for _, q, a, rating in r if min_diff < 0 or int(rating) >= min_diff]
    if split == "train" and subsample < len(out):
        out = [out[i] for i in np.random.choice(len(out), size=subsample, replace=False)]
    return out

def shuffle_sudoku(board, solution):
    digit_map = np.concatenate([[0], np.random.permutation(np.arange(1, 10))])
    transpose = np.random.rand() < 0.5
    bands = np.random.permutation(3)
    row_perm = np.concatenate([b * 3 + np.random.permutation(3) for b in bands])
    stacks = np.random.permutation(3)
    col_perm = np.concatenate([s * 3 + np.random.permutation(3) for s in stacks])
    def apply(x):
        x = x.T if transpose else x
        return digit_map[x[row_perm][:, col_perm]]
    return apply(board), apply(solution)

out = {}
for split in ["train", "test"]:
    inputs, labels = [], []
    for q, a in rows(split):
        if kind == "sudoku":
            q = np.array([0 if c == "." else ord(c) - 48 for c in q]).reshape(9, 9)
            a = np.array([ord(c) - 48 for c in a]).reshape(9, 9)
            grids = [(q, a)] + [shuffle_sudoku(q, a) for _ in range(aug if split == "train" else 0)]
            for gq, ga in grids:
                inputs += [int(v) + 1 for v in gq.flatten()]
                labels += [int(v) + 1 for v in ga.flatten()]
        else:
            inputs += ["# SGo".index(c) + 1 for c in q]
            labels += ["# SGo".index(c) + 1 for c in a]
    out[split] = {"inputs": inputs, "labels": labels}
out["next"] = int(np.random.randint(0, 2**32, dtype=np.uint32))
print(json.dumps(out))
`

// TestPuzzleCompatNumpyCrossCheck builds inputs larger than the golden's
// (hundreds of rows, so the subsample's permutation uses many rejection
// masks, and with --min-difficulty) in compat mode and compares the arrays
// and the stream's position with the reference's algorithm run on the real
// numpy.
func TestPuzzleCompatNumpyCrossCheck(t *testing.T) {
	if _, err := os.Stat(numpyPython); err != nil {
		t.Skipf("%s not found: numpy cross-check skipped", numpyPython)
	}
	if err := exec.Command(numpyPython, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s has no numpy: cross-check skipped", numpyPython)
	}
	sudokus, mazes := t.TempDir(), t.TempDir()
	writeCompatCSVs(t, sudokus, mazes)
	cases := []struct {
		kind               string
		seed               int64
		subsample, minDiff int // minDiff -1: no --min-difficulty
		aug                int
	}{
		{kind: "sudoku", seed: 3, subsample: 150, minDiff: 4, aug: 3},
		{kind: "sudoku", seed: 4294967295, subsample: 1000, minDiff: -1, aug: 1}, // no subsample draws
		{kind: "maze", seed: 99, subsample: 200, minDiff: -1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/seed=%d", c.kind, c.seed), func(t *testing.T) {
			in := sudokus
			if c.kind == "maze" {
				in = mazes
			}
			out := filepath.Join(t.TempDir(), "ds")
			var next uint32
			done := func(rs *nprand.RandomState) { next = rs.Uint32() }
			o := Output{Dir: out, Workers: 2, Quiet: true}
			var err error
			if c.kind == "sudoku" {
				var minDiff *int
				if c.minDiff >= 0 {
					minDiff = &c.minDiff
				}
				_, err = BuildSudoku(context.Background(), SudokuConfig{Input: in, Subsample: c.subsample, MinDifficulty: minDiff, Aug: c.aug, Seed: c.seed, Compat: CompatNumpy, numpyDone: done}, o)
			} else {
				_, err = BuildMaze(context.Background(), MazeConfig{Input: in, Subsample: c.subsample, Seed: c.seed, Compat: CompatNumpy, numpyDone: done}, o)
			}
			if err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(numpyPython, "-c", referenceCompatScript, c.kind, in, fmt.Sprint(c.seed), fmt.Sprint(c.subsample), fmt.Sprint(c.minDiff), fmt.Sprint(c.aug))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("numpy script: %v\n%s", err, stderr.String())
			}
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var wantNext uint32
			json.Unmarshal(want["next"], &wantNext)
			if next != wantNext {
				t.Errorf("next raw draw %d, numpy's %d", next, wantNext)
			}
			for _, split := range []string{"train", "test"} {
				var w struct{ Inputs, Labels []int }
				if err := json.Unmarshal(want[split], &w); err != nil {
					t.Fatal(err)
				}
				wantIn, wantLab := make([]byte, len(w.Inputs)), make([]byte, len(w.Labels))
				for i := range w.Inputs {
					wantIn[i], wantLab[i] = byte(w.Inputs[i]), byte(w.Labels[i])
				}
				rows, _ := readSplit(t, out, split)
				if len(wantIn) == 0 || !bytes.Equal(rows.Inputs, wantIn) || !bytes.Equal(rows.Labels, wantLab) {
					t.Errorf("%s: %d input tokens, numpy's reference %d; arrays differ", split, len(rows.Inputs), len(w.Inputs))
				}
			}
		})
	}
}

// writeCompatCSVs writes 600 valid Sudoku rows with ratings 0..9 (shuffles
// of one solution, some cells blanked) and 500 4x4 maze rows, plus small
// test files.
func writeCompatCSVs(t *testing.T, sudokuDir, mazeDir string) {
	t.Helper()
	rng := GroupRand(1, "compat-csv", 0)
	base := digitsOf("123456789456789123789123456234567891567891234891234567345678912678912345912345678")
	sudokuCSV := func(n int) string {
		var b strings.Builder
		b.WriteString(sudokuHeader)
		for i := range n {
			sol := make([]byte, 81)
			randomSudokuShuffle(rng).Apply(sol, base)
			q, a := make([]byte, 81), make([]byte, 81)
			for k, d := range sol {
				a[k] = '0' + d
				q[k] = a[k]
				if rng.IntN(3) == 0 {
					q[k] = '.'
				}
			}
			fmt.Fprintf(&b, "s%d,%s,%s,%d\n", i, q, a, rng.IntN(10))
		}
		return b.String()
	}
	mazeCSV := func(n int) string {
		var b strings.Builder
		b.WriteString(sudokuHeader)
		for i := range n {
			q, a := make([]byte, 16), make([]byte, 16)
			for k := range q {
				q[k] = mazeCharset[rng.IntN(4)]
				a[k] = q[k]
				if q[k] == ' ' && rng.IntN(2) == 0 {
					a[k] = 'o'
				}
			}
			fmt.Fprintf(&b, "m%d,%s,%s,0\n", i, q, a)
		}
		return b.String()
	}
	for path, text := range map[string]string{
		filepath.Join(sudokuDir, "train.csv"): sudokuCSV(600),
		filepath.Join(sudokuDir, "test.csv"):  sudokuCSV(20),
		filepath.Join(mazeDir, "train.csv"):   mazeCSV(500),
		filepath.Join(mazeDir, "test.csv"):    mazeCSV(10),
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
