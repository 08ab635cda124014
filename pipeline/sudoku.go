package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/nprand"
)

// Sudoku token layout (spec/reference-data.md 3.5): digit+1, so 1 is a blank
// and 2..10 are digits 1..9; PAD 0 never occurs.
const (
	sudokuVocab  = 11
	sudokuCells  = 81
	sudokuStream = "sudoku"
)

// SudokuConfig configures BuildSudoku. Its JSON form is recorded in the
// manifest.
type SudokuConfig struct {
	Input         string `json:"input,omitempty"`    // directory with train.csv and test.csv
	Generate      int    `json:"generate,omitempty"` // or: generate this many training puzzles
	GenerateTest  int    `json:"generate_test,omitempty"`
	MinRating     int    `json:"generate_min_rating,omitempty"`
	Subsample     int    `json:"subsample_size,omitempty"` // train only; 0 keeps all
	MinDifficulty *int   `json:"min_difficulty"`
	Aug           int    `json:"num_aug"` // shuffles per training puzzle
	Seed          int64  `json:"seed"`
	SkipInvalid   bool   `json:"skip_invalid,omitempty"`
	// Compat "numpy" reproduces the reference builder run after
	// numpy.random.seed(Seed) byte for byte (its single global legacy
	// stream; the reference itself never seeds it); "" draws every group's
	// shuffles from its own stream.
	Compat string `json:"compat,omitempty"`

	// numpyDone, when set, sees the global stream after a compat build, so
	// tests can check the exact number of draws.
	numpyDone func(*nprand.RandomState)
}

// BuildReport summarises a build for the command line.
type BuildReport struct {
	Splits  map[string]dataset.SplitStats
	skipped map[string]bool // "file:line" of invalid rows skipped (--skip-invalid)
}

// Skipped is the number of invalid input rows skipped.
func (r *BuildReport) Skipped() int { return len(r.skipped) }

// skip records a skipped row once, however many passes read it.
func (r *BuildReport) skip(path string, line int) {
	if r.skipped == nil {
		r.skipped = map[string]bool{}
	}
	r.skipped[fmt.Sprintf("%s:%d", path, line)] = true
}

// sudokuPuzzle is one parsed row: 81 digits each, 0 for blank givens.
type sudokuPuzzle struct {
	Question, Answer [sudokuCells]byte
}

// BuildSudoku builds the reference's Sudoku dataset: the train split with
// Aug random validity-preserving shuffles per puzzle (each its own puzzle,
// the original plus its shuffles one group), the test split unaugmented.
func BuildSudoku(ctx context.Context, cfg SudokuConfig, out Output) (*BuildReport, error) {
	if (cfg.Input == "") == (cfg.Generate == 0) {
		return nil, fmt.Errorf("give either an input directory or --generate N")
	}
	if cfg.Aug < 0 || cfg.Subsample < 0 {
		return nil, fmt.Errorf("--aug and --subsample must not be negative")
	}
	if err := checkPuzzleCompat("sudoku", cfg.Compat, cfg.Seed, cfg.Generate); err != nil {
		return nil, err
	}
	rs := numpyStream(cfg.Compat, cfg.Seed)
	w, err := out.Create("sudoku", cfg.Seed, cfg)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &BuildReport{Splits: map[string]dataset.SplitStats{}}
	for _, split := range []string{"train", "test"} {
		puzzles, err := sudokuSource(ctx, cfg, split, rs, out, rep)
		if err != nil {
			return nil, err
		}
		aug := 0
		if split == "train" {
			aug = cfg.Aug
		}
		total := int64(-1)
		if puzzles.count >= 0 {
			total = int64(puzzles.count * (1 + aug))
		}
		bar := progress.New(total, "sudoku "+split, "rows", out.Quiet)
		st, err := writeSplit(ctx, w, dataset.SplitSpec{Name: split, VocabSize: sudokuVocab, GridShape: [2]int{9, 9}}, out, 1+aug,
			func() (sudokuJob, bool, error) {
				p, ok, err := puzzles.next()
				job := sudokuJob{puzzle: p}
				if ok && rs != nil {
					// The global stream is drawn here, where rows arrive in
					// order; the workers only apply the shuffles.
					job.shuffles = make([]*augment.SudokuShuffle, aug)
					for k := range job.shuffles {
						job.shuffles[k] = numpySudokuShuffle(rs)
					}
				}
				return job, ok, err
			},
			func(i int, job sudokuJob) (*dataset.Group, error) {
				if rs == nil {
					rng := GroupRand(cfg.Seed, sudokuStream+"/"+split, i)
					job.shuffles = make([]*augment.SudokuShuffle, aug)
					for k := range job.shuffles {
						job.shuffles[k] = randomSudokuShuffle(rng)
					}
				}
				return sudokuGroup(job.puzzle, job.shuffles), nil
			},
			func(st dataset.SplitStats) dataset.Metadata {
				return singleExampleMetadata(sudokuVocab, sudokuCells, st)
			},
			bar)
		bar.Finish()
		if err != nil {
			return nil, err
		}
		rep.Splits[split] = st
	}
	return rep, commitSingleExample(w, rs, cfg.numpyDone)
}

// sudokuJob is one group to encode: a puzzle and its shuffles, which in
// compat mode were drawn in row order from the global stream.
type sudokuJob struct {
	puzzle   sudokuPuzzle
	shuffles []*augment.SudokuShuffle
}

// puzzleSource yields a split's puzzles; count is -1 when unknown in advance.
type puzzleSource[T any] struct {
	next  func() (T, bool, error)
	count int
}

func sliceSource[T any](items []T) puzzleSource[T] {
	i := 0
	return puzzleSource[T]{count: len(items), next: func() (T, bool, error) {
		if i == len(items) {
			var zero T
			return zero, false, nil
		}
		i++
		return items[i-1], true, nil
	}}
}

// sudokuSource returns the puzzles of a split: generated, or read from the
// split's CSV (streamed, or in two passes when subsampling). rs is the
// global stream in compat mode, nil otherwise.
func sudokuSource(ctx context.Context, cfg SudokuConfig, split string, rs *nprand.RandomState, out Output, rep *BuildReport) (puzzleSource[sudokuPuzzle], error) {
	if cfg.Generate > 0 {
		n := cfg.Generate
		if split == "test" {
			n = cfg.GenerateTest
			if n == 0 {
				n = cfg.Generate
			}
		}
		ps, err := GenerateSudokus(ctx, SudokuGenConfig{Count: n, MinRating: cfg.MinRating, Seed: cfg.Seed, Stream: split}, out.WorkerCount(), out.Quiet)
		if err != nil {
			return puzzleSource[sudokuPuzzle]{}, err
		}
		puzzles := make([]sudokuPuzzle, len(ps))
		for i, p := range ps {
			puzzles[i] = p.puzzle
		}
		return sliceSource(puzzles), nil
	}
	path := filepath.Join(cfg.Input, split+".csv")
	keep := func(row csvRow) (sudokuPuzzle, bool, error) {
		p, rating, err := parseSudokuRow(path, row)
		if err != nil {
			if cfg.SkipInvalid {
				rep.skip(path, row.Line)
				return p, false, nil
			}
			return p, false, err
		}
		if cfg.MinDifficulty != nil && rating < *cfg.MinDifficulty {
			return p, false, nil
		}
		return p, true, nil
	}
	if split == "train" && cfg.Subsample > 0 {
		return subsample(path, cfg.Subsample, subsampleChooser(rs, cfg.Seed, sudokuStream+"/subsample"), keep)
	}
	return streamCSV(path, keep)
}

// streamCSV yields the kept rows of a CSV file one at a time; the file is
// closed at its end or on error.
func streamCSV[T any](path string, keep func(csvRow) (T, bool, error)) (puzzleSource[T], error) {
	c, err := openPuzzleCSV(path)
	if err != nil {
		return puzzleSource[T]{}, err
	}
	return puzzleSource[T]{count: -1, next: func() (T, bool, error) {
		var zero T
		if c == nil {
			return zero, false, nil
		}
		for {
			row, ok, err := c.next()
			if err != nil || !ok {
				c.Close()
				c = nil
				return zero, false, err
			}
			v, kept, err := keep(row)
			if err != nil {
				c.Close()
				c = nil
				return zero, false, err
			}
			if kept {
				return v, true, nil
			}
		}
	}}, nil
}

// subsample keeps k random rows of a CSV, in the random order the reference
// uses (choose(count, k), a permutation prefix), holding only those k rows
// in memory: the first pass counts the kept rows, the second collects the
// chosen ones. As in the reference, nothing is drawn when k >= count.
func subsample[T any](path string, k int, choose func(n, k int) []int, keep func(csvRow) (T, bool, error)) (puzzleSource[T], error) {
	count := 0
	if err := eachKept(path, keep, func(T) { count++ }); err != nil {
		return puzzleSource[T]{}, err
	}
	if k >= count {
		var all []T
		if err := eachKept(path, keep, func(v T) { all = append(all, v) }); err != nil {
			return puzzleSource[T]{}, err
		}
		return sliceSource(all), nil
	}
	position := make(map[int]int, k) // kept-row index -> output position
	for pos, idx := range choose(count, k) {
		position[idx] = pos
	}
	chosen := make([]T, k)
	i := 0
	err := eachKept(path, keep, func(v T) {
		if pos, ok := position[i]; ok {
			chosen[pos] = v
		}
		i++
	})
	if err != nil {
		return puzzleSource[T]{}, err
	}
	return sliceSource(chosen), nil
}

func eachKept[T any](path string, keep func(csvRow) (T, bool, error), fn func(T)) error {
	src, err := streamCSV(path, keep)
	if err != nil {
		return err
	}
	for {
		v, ok, err := src.next()
		if err != nil || !ok {
			return err
		}
		fn(v)
	}
}

// parseSudokuRow checks one CSV row: 81-character question ('.' or '0' for
// blanks) and answer, the answer a valid solution agreeing with the givens.
func parseSudokuRow(path string, row csvRow) (p sudokuPuzzle, rating int, err error) {
	bad := func(field, format string, args ...any) error {
		return &rowError{Path: path, Line: row.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(row.Question) != sudokuCells {
		return p, 0, bad("question", "%d characters, want %d", len(row.Question), sudokuCells)
	}
	if len(row.Answer) != sudokuCells {
		return p, 0, bad("answer", "%d characters, want %d", len(row.Answer), sudokuCells)
	}
	for i := range sudokuCells {
		switch c := row.Question[i]; {
		case c == '.':
		case c >= '0' && c <= '9':
			p.Question[i] = c - '0'
		default:
			return p, 0, bad("question", "character %d is %q, want a digit or '.'", i+1, c)
		}
		c := row.Answer[i]
		if c < '1' || c > '9' {
			return p, 0, bad("answer", "character %d is %q, want a digit 1-9", i+1, c)
		}
		p.Answer[i] = c - '0'
		if p.Question[i] != 0 && p.Question[i] != p.Answer[i] {
			return p, 0, bad("answer", "cell %d is %d but the question gives %d", i+1, p.Answer[i], p.Question[i])
		}
	}
	if !augment.ValidSudoku(p.Answer[:]) {
		return p, 0, bad("answer", "not a valid Sudoku solution (a digit repeats in a row, column or box)")
	}
	if row.Rating != "" {
		if rating, err = strconv.Atoi(row.Rating); err != nil {
			return p, 0, bad("rating", "%q is not an integer", row.Rating)
		}
	}
	return p, rating, nil
}

// sudokuGroup encodes a puzzle and its shuffles, each its own puzzle.
func sudokuGroup(p sudokuPuzzle, shuffles []*augment.SudokuShuffle) *dataset.Group {
	aug := len(shuffles)
	g := &dataset.Group{
		Inputs: make([]byte, 0, (1+aug)*sudokuCells),
		Labels: make([]byte, 0, (1+aug)*sudokuCells),
	}
	var q, a [sudokuCells]byte
	for k := 0; k <= aug; k++ {
		name := ""
		if k == 0 {
			q, a = p.Question, p.Answer
		} else {
			s := shuffles[k-1]
			s.Apply(q[:], p.Question[:])
			s.Apply(a[:], p.Answer[:])
			name = s.String()
		}
		g.Inputs = appendTokens(g.Inputs, q[:], 1)
		g.Labels = appendTokens(g.Labels, a[:], 1)
		g.AddPuzzle(1, 0, name)
	}
	return g
}

// randomSudokuShuffle draws one shuffle from a group's own stream, in the
// reference's order (digits, transpose, bands, rows, stacks, columns).
func randomSudokuShuffle(rng *rand.Rand) *augment.SudokuShuffle {
	var digits [9]byte
	for i := range digits {
		digits[i] = byte(i + 1)
	}
	shuffle(rng, digits[:])
	transpose := rng.IntN(2) == 1
	return assembleSudokuShuffle(digits, transpose, func() [3]int {
		p := [3]int{0, 1, 2}
		shuffle(rng, p[:])
		return p
	})
}

// assembleSudokuShuffle draws the band, row, stack and column permutations
// with perm3, in the reference's order, after the digits and the transpose.
func assembleSudokuShuffle(digits [9]byte, transpose bool, perm3 func() [3]int) *augment.SudokuShuffle {
	bands := perm3()
	rows := [3][3]int{perm3(), perm3(), perm3()}
	stacks := perm3()
	cols := [3][3]int{perm3(), perm3(), perm3()}
	s, err := augment.NewSudokuShuffle(digits, transpose, bands, rows, stacks, cols)
	if err != nil {
		panic(err) // the draws are permutations by construction
	}
	return s
}

// shuffle is Fisher-Yates in place, without rand.Perm's allocation.
func shuffle[T any](rng *rand.Rand, s []T) {
	for i := len(s) - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}

// appendTokens appends each value plus offset.
func appendTokens(dst, values []byte, offset byte) []byte {
	for _, v := range values {
		dst = append(dst, v+offset)
	}
	return dst
}
