package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tinyrecursion/trm/internal/progress"
)

// MazeGenConfig configures GenerateMazes.
type MazeGenConfig struct {
	Count   int
	Size    int // side of the square grid (0: 30, as the reference data)
	MinPath int // shortest S-G path, in cells between them (0: 110 scaled by area)
	Seed    int64
	Stream  string
}

func (c MazeGenConfig) side() int {
	if c.Size == 0 {
		return 30
	}
	return c.Size
}

func (c MazeGenConfig) minPath() int {
	if c.MinPath > 0 {
		return c.MinPath
	}
	s := c.side()
	return 110 * s * s / 900
}

// GeneratedMaze is a maze whose answer marks its unique shortest path.
type GeneratedMaze struct {
	puzzle mazePuzzle
	Path   int // cells marked 'o'
}

// GenerateMazes makes Count perfect mazes (exactly one path between any two
// cells) with start S and goal G at least MinPath cells apart, in parallel,
// each deterministic in (Seed, Stream, index).
func GenerateMazes(ctx context.Context, cfg MazeGenConfig, workers int, quiet bool) ([]GeneratedMaze, error) {
	side, minPath := cfg.side(), cfg.minPath()
	if side < 3 || side > 255 {
		return nil, fmt.Errorf("maze size %d outside 3..255", side)
	}
	out := make([]GeneratedMaze, 0, cfg.Count)
	bar := progress.New(int64(cfg.Count), "generate maze "+cfg.Stream, "mazes", quiet)
	defer bar.Finish()
	i := 0
	err := Ordered(ctx, workers,
		func() (int, bool, error) { i++; return i - 1, i <= cfg.Count, nil },
		func(index, _ int) (GeneratedMaze, error) {
			rng := GroupRand(cfg.Seed, "generate-maze/"+cfg.Stream, index)
			for range maxGenAttempts {
				if err := ctx.Err(); err != nil {
					return GeneratedMaze{}, err
				}
				if m, ok := generateMaze(rng, side, minPath); ok {
					return m, nil
				}
			}
			return GeneratedMaze{}, fmt.Errorf("no %dx%d maze with a path of %d cells in %d attempts; lower --min-path", side, side, minPath, maxGenAttempts)
		},
		func(_ int, m GeneratedMaze) error {
			out = append(out, m)
			bar.Add(1)
			return nil
		})
	return out, err
}

// Maze tokens (mazeCharset index + 1).
const (
	tokWall  = 1
	tokOpen  = 2
	tokStart = 3
	tokGoal  = 4
	tokPath  = 5
)

// generateMaze carves a perfect maze by randomised depth-first search over
// the odd coordinates, puts S on a random cell and G on the cell farthest
// from it, and marks the path between them.
func generateMaze(rng *rand.Rand, side, minPath int) (GeneratedMaze, bool) {
	grid := make([]byte, side*side)
	for i := range grid {
		grid[i] = tokWall
	}
	cells := (side - 1) / 2 // cells at 1, 3, ..., 2*cells-1
	if cells < 1 {
		return GeneratedMaze{}, false
	}
	at := func(r, c int) int { return (2*r+1)*side + 2*c + 1 }
	visited := make([]bool, cells*cells)
	stack := []int{rng.IntN(cells * cells)}
	visited[stack[0]] = true
	grid[at(stack[0]/cells, stack[0]%cells)] = tokOpen
	dirs := [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		r, c := cur/cells, cur%cells
		var next [4]int
		n := 0
		for _, d := range dirs {
			nr, nc := r+d[0], c+d[1]
			if nr >= 0 && nr < cells && nc >= 0 && nc < cells && !visited[nr*cells+nc] {
				next[n] = nr*cells + nc
				n++
			}
		}
		if n == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		nxt := next[rng.IntN(n)]
		nr, nc := nxt/cells, nxt%cells
		grid[(2*r+1+nr-r)*side+2*c+1+nc-c] = tokOpen // the wall between
		grid[at(nr, nc)] = tokOpen
		visited[nxt] = true
		stack = append(stack, nxt)
	}
	s := at(rng.IntN(cells), rng.IntN(cells))
	parent, g := bfs(grid, side, s)
	answer := make([]byte, len(grid))
	copy(answer, grid)
	path := 0
	for cell := parent[g]; cell != s; cell = parent[cell] {
		answer[cell] = tokPath
		path++
	}
	if path < minPath {
		return GeneratedMaze{}, false
	}
	grid[s], grid[g], answer[s], answer[g] = tokStart, tokGoal, tokStart, tokGoal
	return GeneratedMaze{puzzle: mazePuzzle{Question: grid, Answer: answer}, Path: path}, true
}

// bfs returns each open cell's predecessor on a shortest path from s (-1
// for walls and unreachable cells; s is its own parent) and the last cell
// reached, which is a farthest one from s.
func bfs(grid []byte, side, s int) (parent []int, last int) {
	parent = make([]int, len(grid))
	for i := range parent {
		parent[i] = -1
	}
	parent[s] = s
	queue := []int{s}
	for len(queue) > 0 {
		last, queue = queue[0], queue[1:]
		c := last % side
		for _, nb := range [4]int{last - side, last + side, last - 1, last + 1} {
			if nb < 0 || nb >= len(grid) || (nb == last-1 && c == 0) || (nb == last+1 && c == side-1) {
				continue
			}
			if grid[nb] != tokWall && parent[nb] < 0 {
				parent[nb] = last
				queue = append(queue, nb)
			}
		}
	}
	return parent, last
}

// CSVRecord renders a generated maze as a reference CSV row.
func (m GeneratedMaze) CSVRecord(source string) []string {
	text := func(tokens []byte) string {
		b := make([]byte, len(tokens))
		for i, t := range tokens {
			b[i] = mazeCharset[t-1]
		}
		return string(b)
	}
	return []string{source, text(m.puzzle.Question), text(m.puzzle.Answer), fmt.Sprint(m.Path)}
}
