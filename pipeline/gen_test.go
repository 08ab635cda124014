package pipeline

import (
	"context"
	"slices"
	"testing"

	"github.com/tinyrecursion/trm/augment"
)

func TestGeneratedSudokusAreUniqueAndDeterministic(t *testing.T) {
	a, err := GenerateSudokus(context.Background(), SudokuGenConfig{Count: 20, Seed: 7, Stream: "train"}, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSudokus(context.Background(), SudokuGenConfig{Count: 20, Seed: 7, Stream: "train"}, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("puzzle %d differs between 1 and 3 workers", i)
		}
		p := a[i].puzzle
		if !augment.ValidSudoku(p.Answer[:]) {
			t.Fatalf("puzzle %d: invalid solution", i)
		}
		var s sudokuSolver
		n, _ := s.solve(p.Question, 2)
		if n != 1 || s.grid != p.Answer {
			t.Fatalf("puzzle %d: %d solutions, or the solver's differs from the answer", i, n)
		}
		for c, d := range p.Question {
			if d != 0 && d != p.Answer[c] {
				t.Fatalf("puzzle %d: given %d at %d contradicts the answer", i, d, c)
			}
		}
	}
	hard, err := GenerateSudokus(context.Background(), SudokuGenConfig{Count: 5, MinRating: 3, Seed: 1, Stream: "x"}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range hard {
		if g.Rating < 3 {
			t.Fatalf("rating %d below the minimum", g.Rating)
		}
	}
}

func TestSolverCountsSolutions(t *testing.T) {
	var s sudokuSolver
	var empty [81]byte
	if n, _ := s.solve(empty, 2); n != 2 {
		t.Fatalf("empty grid: %d solutions counted up to 2", n)
	}
	bad := empty
	bad[0], bad[1] = 5, 5
	if n, _ := s.solve(bad, 2); n != 0 {
		t.Fatalf("contradictory givens: %d solutions", n)
	}
}

func TestGeneratedMazes(t *testing.T) {
	for _, size := range []int{9, 30, 31} {
		cfg := MazeGenConfig{Count: 10, Size: size, Seed: 3, Stream: "train"}
		a, err := GenerateMazes(context.Background(), cfg, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := GenerateMazes(context.Background(), cfg, 2, true)
		for i, m := range a {
			if !slices.Equal(m.puzzle.Question, b[i].puzzle.Question) || !slices.Equal(m.puzzle.Answer, b[i].puzzle.Answer) {
				t.Fatalf("size %d maze %d differs between worker counts", size, i)
			}
			q, ans := m.puzzle.Question, m.puzzle.Answer
			if len(q) != size*size || m.Path < cfg.minPath() {
				t.Fatalf("size %d maze %d: %d cells, path %d", size, i, len(q), m.Path)
			}
			// The marked path is the BFS shortest path from S to G.
			s, g := slices.Index(q, tokStart), slices.Index(q, tokGoal)
			open := slices.Clone(q)
			open[s], open[g] = tokOpen, tokOpen
			parent, _ := bfs(open, size, s)
			marked := 0
			for c := range ans {
				if ans[c] == tokPath {
					marked++
				} else if ans[c] != q[c] {
					t.Fatalf("maze %d: answer changes cell %d beyond marking the path", i, c)
				}
			}
			if pathLen(parent, g, s)-1 != marked || marked != m.Path {
				t.Fatalf("maze %d: %d cells marked, shortest path has %d", i, marked, pathLen(parent, g, s)-1)
			}
		}
	}
}

func pathLen(parent []int, cell, s int) int {
	n := 0
	for cell != s {
		cell = parent[cell]
		n++
	}
	return n
}
