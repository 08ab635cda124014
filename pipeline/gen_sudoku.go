package pipeline

import (
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/tinyrecursion/trm/internal/progress"
)

// SudokuGenConfig configures GenerateSudokus.
type SudokuGenConfig struct {
	Count     int
	MinRating int    // reject puzzles whose rating (solver backtracks) is lower
	Seed      int64  // puzzle i depends only on (Seed, Stream, i)
	Stream    string // e.g. "train", "test": distinct puzzles per split
}

// GeneratedSudoku is one generated puzzle with its unique solution and its
// difficulty rating: the backtracks a most-constrained-cell-first solver
// needs (0 = solvable by forced moves alone).
type GeneratedSudoku struct {
	puzzle sudokuPuzzle
	Rating int
}

// maxGenAttempts bounds the retries for one puzzle when MinRating is set.
const maxGenAttempts = 10000

// GenerateSudokus makes Count puzzles with unique solutions, in parallel,
// each deterministic in (Seed, Stream, index).
func GenerateSudokus(ctx context.Context, cfg SudokuGenConfig, workers int, quiet bool) ([]GeneratedSudoku, error) {
	out := make([]GeneratedSudoku, 0, cfg.Count)
	bar := progress.New(int64(cfg.Count), "generate sudoku "+cfg.Stream, "puzzles", quiet)
	defer bar.Finish()
	i := 0
	err := Ordered(ctx, workers,
		func() (int, bool, error) { i++; return i - 1, i <= cfg.Count, nil },
		func(index, _ int) (GeneratedSudoku, error) {
			rng := GroupRand(cfg.Seed, "generate-sudoku/"+cfg.Stream, index)
			for range maxGenAttempts {
				if err := ctx.Err(); err != nil {
					return GeneratedSudoku{}, err
				}
				g := generateSudoku(rng)
				if g.Rating >= cfg.MinRating {
					return g, nil
				}
			}
			return GeneratedSudoku{}, fmt.Errorf("no puzzle with rating >= %d in %d attempts; lower --min-rating", cfg.MinRating, maxGenAttempts)
		},
		func(_ int, g GeneratedSudoku) error {
			out = append(out, g)
			bar.Add(1)
			return nil
		})
	return out, err
}

// generateSudoku fills a random solution, then blanks cells in random order
// as long as the solution stays unique, giving a minimal puzzle.
func generateSudoku(rng *rand.Rand) GeneratedSudoku {
	var s sudokuSolver
	s.fillRandom(rng)
	var g GeneratedSudoku
	g.puzzle.Answer = s.grid
	q := s.grid
	for _, cell := range rng.Perm(sudokuCells) {
		keep := q[cell]
		q[cell] = 0
		var t sudokuSolver
		if n, _ := t.solve(q, 2); n != 1 {
			q[cell] = keep
		}
	}
	g.puzzle.Question = q
	var t sudokuSolver
	_, g.Rating = t.solve(q, 1)
	return g
}

// sudokuSolver is a bitmask backtracking solver that always branches on the
// cell with the fewest candidates.
type sudokuSolver struct {
	grid             [81]byte
	rows, cols, boxs [9]uint16 // digits used, bit d
	solutions        int
	backtracks       int
	limit            int
}

func boxOf(cell int) int { return cell/27*3 + cell%9/3 }

func (s *sudokuSolver) set(cell int, d byte) {
	s.grid[cell] = d
	bit := uint16(1) << d
	s.rows[cell/9] |= bit
	s.cols[cell%9] |= bit
	s.boxs[boxOf(cell)] |= bit
}

func (s *sudokuSolver) unset(cell int) {
	bit := ^(uint16(1) << s.grid[cell])
	s.rows[cell/9] &= bit
	s.cols[cell%9] &= bit
	s.boxs[boxOf(cell)] &= bit
	s.grid[cell] = 0
}

func (s *sudokuSolver) candidates(cell int) uint16 {
	return ^(s.rows[cell/9] | s.cols[cell%9] | s.boxs[boxOf(cell)]) & 0x3fe
}

// solve counts solutions of q up to limit and returns the count and the
// backtracks made; s.grid holds the last solution found.
func (s *sudokuSolver) solve(q [81]byte, limit int) (int, int) {
	*s = sudokuSolver{limit: limit}
	for cell, d := range q {
		if d != 0 {
			if s.candidates(cell)&(1<<d) == 0 {
				return 0, 0 // contradictory givens
			}
			s.set(cell, d)
		}
	}
	solution := s.grid
	s.search(&solution)
	s.grid = solution
	return s.solutions, s.backtracks
}

func (s *sudokuSolver) search(solution *[81]byte) {
	best, bestCount := -1, 10
	for cell := range 81 {
		if s.grid[cell] == 0 {
			n := bits.OnesCount16(s.candidates(cell))
			if n < bestCount {
				best, bestCount = cell, n
				if n <= 1 {
					break
				}
			}
		}
	}
	if best < 0 {
		s.solutions++
		*solution = s.grid
		return
	}
	cands := s.candidates(best)
	for cands != 0 && s.solutions < s.limit {
		d := byte(bits.TrailingZeros16(cands))
		cands &= cands - 1
		s.set(best, d)
		s.search(solution)
		s.unset(best)
		if s.solutions < s.limit && cands != 0 {
			s.backtracks++
		}
	}
}

// fillRandom fills an empty grid with a random valid solution.
func (s *sudokuSolver) fillRandom(rng *rand.Rand) {
	*s = sudokuSolver{}
	s.fill(0, rng)
}

func (s *sudokuSolver) fill(cell int, rng *rand.Rand) bool {
	if cell == 81 {
		return true
	}
	cands := s.candidates(cell)
	for _, d := range rng.Perm(9) {
		digit := byte(d + 1)
		if cands&(1<<digit) == 0 {
			continue
		}
		s.set(cell, digit)
		if s.fill(cell+1, rng) {
			return true
		}
		s.unset(cell)
	}
	return false
}

// CSVRecord renders a generated puzzle as a reference CSV row.
func (g GeneratedSudoku) CSVRecord(source string) []string {
	q := make([]byte, sudokuCells)
	a := make([]byte, sudokuCells)
	for i := range sudokuCells {
		q[i] = '.'
		if d := g.puzzle.Question[i]; d != 0 {
			q[i] = '0' + d
		}
		a[i] = '0' + g.puzzle.Answer[i]
	}
	return []string{source, string(q), string(a), fmt.Sprint(g.Rating)}
}
