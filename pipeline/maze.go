package pipeline

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/nprand"
)

// mazeCharset maps maze characters to tokens: index + 1 (0 is PAD).
const mazeCharset = "# SGo"

const mazeVocab = len(mazeCharset) + 1

// MazeConfig configures BuildMaze. Its JSON form is recorded in the manifest.
type MazeConfig struct {
	Input        string `json:"input,omitempty"`
	Generate     int    `json:"generate,omitempty"`
	GenerateTest int    `json:"generate_test,omitempty"`
	Size         int    `json:"size,omitempty"`     // generated maze side
	MinPath      int    `json:"min_path,omitempty"` // generated shortest-path length
	Subsample    int    `json:"subsample_size,omitempty"`
	Aug          bool   `json:"aug"` // the 8 dihedral transforms, train only
	Seed         int64  `json:"seed"`
	SkipInvalid  bool   `json:"skip_invalid,omitempty"`
	// Compat "numpy" draws the training subsample as the reference builder
	// does after numpy.random.seed(Seed) (its single global legacy stream;
	// the reference itself never seeds it), so the arrays are the same byte
	// for byte; "" draws it from the build's own stream.
	Compat string `json:"compat,omitempty"`

	// numpyDone, when set, sees the global stream after a compat build, so
	// tests can check the exact number of draws.
	numpyDone func(*nprand.RandomState)
}

// mazePuzzle is one maze as tokens (n*n each).
type mazePuzzle struct {
	Question, Answer []byte
}

// BuildMaze builds the reference's Maze dataset: with Aug, each training maze
// and its 7 other dihedral images form a group; otherwise one puzzle a group.
func BuildMaze(ctx context.Context, cfg MazeConfig, out Output) (*BuildReport, error) {
	if (cfg.Input == "") == (cfg.Generate == 0) {
		return nil, fmt.Errorf("give either an input directory or --generate N")
	}
	if err := checkPuzzleCompat("maze", cfg.Compat, cfg.Seed, cfg.Generate); err != nil {
		return nil, err
	}
	rs := numpyStream(cfg.Compat, cfg.Seed)
	w, err := out.Create("maze", cfg.Seed, cfg)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &BuildReport{Splits: map[string]dataset.SplitStats{}}
	for _, split := range []string{"train", "test"} {
		src, side, err := mazeSource(ctx, cfg, split, rs, out, rep)
		if err != nil {
			return nil, err
		}
		transforms := 1
		if split == "train" && cfg.Aug {
			transforms = augment.NumDihedral
		}
		total := int64(-1)
		if src.count >= 0 {
			total = int64(src.count * transforms)
		}
		maps := make([][]int, transforms)
		for t := range transforms {
			maps[t] = augment.DihedralMap(side, side, t)
		}
		bar := progress.New(total, "maze "+split, "rows", out.Quiet)
		st, err := writeSplit(ctx, w, dataset.SplitSpec{Name: split, VocabSize: mazeVocab, GridShape: [2]int{side, side}}, out, transforms,
			src.next,
			func(_ int, p mazePuzzle) (*dataset.Group, error) { return mazeGroup(p, maps), nil },
			func(st dataset.SplitStats) dataset.Metadata { return singleExampleMetadata(mazeVocab, side*side, st) },
			bar)
		bar.Finish()
		if err != nil {
			return nil, err
		}
		rep.Splits[split] = st
	}
	return rep, commitSingleExample(w, rs, cfg.numpyDone)
}

// mazeGroup encodes a maze under each transform (precomputed index maps).
func mazeGroup(p mazePuzzle, maps [][]int) *dataset.Group {
	n := len(p.Question)
	g := &dataset.Group{Inputs: make([]byte, 0, n*len(maps)), Labels: make([]byte, 0, n*len(maps))}
	for t, m := range maps {
		for _, from := range m {
			g.Inputs = append(g.Inputs, p.Question[from])
			g.Labels = append(g.Labels, p.Answer[from])
		}
		aug := ""
		if t != augment.Identity {
			aug = "t" + strconv.Itoa(t)
		}
		g.AddPuzzle(1, 0, aug)
	}
	return g
}

// mazeSource returns a split's mazes and their side length. As in the
// reference, the side comes from the first row and every row must match it.
// rs is the global stream in compat mode, nil otherwise.
func mazeSource(ctx context.Context, cfg MazeConfig, split string, rs *nprand.RandomState, out Output, rep *BuildReport) (puzzleSource[mazePuzzle], int, error) {
	if cfg.Generate > 0 {
		n := cfg.Generate
		if split == "test" && cfg.GenerateTest > 0 {
			n = cfg.GenerateTest
		}
		gcfg := MazeGenConfig{Count: n, Size: cfg.Size, MinPath: cfg.MinPath, Seed: cfg.Seed, Stream: split}
		mazes, err := GenerateMazes(ctx, gcfg, out.WorkerCount(), out.Quiet)
		if err != nil {
			return puzzleSource[mazePuzzle]{}, 0, err
		}
		puzzles := make([]mazePuzzle, len(mazes))
		for i, m := range mazes {
			puzzles[i] = m.puzzle
		}
		return sliceSource(puzzles), gcfg.side(), nil
	}
	path := filepath.Join(cfg.Input, split+".csv")
	side, err := mazeSide(path)
	if err != nil {
		return puzzleSource[mazePuzzle]{}, 0, err
	}
	keep := func(row csvRow) (mazePuzzle, bool, error) {
		p, err := parseMazeRow(path, row, side)
		if err != nil {
			if cfg.SkipInvalid {
				rep.skip(path, row.Line)
				return p, false, nil
			}
			return p, false, err
		}
		return p, true, nil
	}
	var src puzzleSource[mazePuzzle]
	if split == "train" && cfg.Subsample > 0 {
		src, err = subsample(path, cfg.Subsample, subsampleChooser(rs, cfg.Seed, "maze/subsample"), keep)
	} else {
		src, err = streamCSV(path, keep)
	}
	return src, side, err
}

// mazeSide reads the first data row to find the grid side.
func mazeSide(path string) (int, error) {
	c, err := openPuzzleCSV(path)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	row, ok, err := c.next()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%s: no mazes after the header", path)
	}
	side := int(math.Sqrt(float64(len(row.Question))))
	if side == 0 || side*side != len(row.Question) {
		return 0, &rowError{Path: path, Line: row.Line, Field: "question", Msg: fmt.Sprintf("%d characters is not a square grid", len(row.Question))}
	}
	return side, nil
}

func parseMazeRow(path string, row csvRow, side int) (mazePuzzle, error) {
	var p mazePuzzle
	for _, f := range []struct {
		name, text string
		dst        *[]byte
	}{{"question", row.Question, &p.Question}, {"answer", row.Answer, &p.Answer}} {
		if len(f.text) != side*side {
			return p, &rowError{Path: path, Line: row.Line, Field: f.name, Msg: fmt.Sprintf("%d characters, want %d (a %dx%d maze, as the first row)", len(f.text), side*side, side, side)}
		}
		tokens := make([]byte, len(f.text))
		for i := range len(f.text) {
			k := strings.IndexByte(mazeCharset, f.text[i])
			if k < 0 {
				return p, &rowError{Path: path, Line: row.Line, Field: f.name, Msg: fmt.Sprintf("character %d is %q, outside the charset %q", i+1, f.text[i], mazeCharset)}
			}
			tokens[i] = byte(k + 1)
		}
		*f.dst = tokens
	}
	return p, nil
}
