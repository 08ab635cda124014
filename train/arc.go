package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// DefaultPassKs are the reference ARC evaluator's pass@K cut-offs.
var DefaultPassKs = []int{1, 2, 5, 10, 100, 1000}

// grid is a cropped ARC grid of colours 0..9, row-major.
type grid struct {
	H, W  int
	Cells []byte
}

// hash is the reference's grid_hash: sha256 of H, W and the cells.
func (g grid) hash() [sha256.Size]byte {
	b := make([]byte, 2+len(g.Cells))
	b[0], b[1] = byte(g.H), byte(g.W)
	copy(b[2:], g.Cells)
	return sha256.Sum256(b)
}

// appendJSON writes g as Python's json.dump writes a nested list of ints.
func (g grid) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for r := range g.H {
		if r > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for c := range g.W {
			if c > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendInt(b, int64(g.Cells[r*g.W+c]), 10)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// cropARC is the reference's crop: the largest EOS-free top-left rectangle
// of the 30x30 token canvas (strict >, so the earliest wins ties), as colours.
func cropARC(tokens []int32) grid {
	const n = augment.ARCCanvas
	maxArea, bestR, bestC, numC := 0, 0, 0, n
	for r := 1; r <= n; r++ {
		for c := 1; c <= numC; c++ {
			x := tokens[(r-1)*n+c-1]
			if x < augment.ARCColourToken || x > augment.ARCColourToken+9 {
				numC = c - 1
				break
			}
		}
		if area := r * numC; area > maxArea {
			maxArea, bestR, bestC = area, r, numC
		}
	}
	g := grid{H: bestR, W: bestC, Cells: make([]byte, bestR*bestC)}
	for r := range bestR {
		for c := range bestC {
			g.Cells[r*bestC+c] = byte(tokens[r*n+c] - augment.ARCColourToken)
		}
	}
	return g
}

// inverseAug is the reference's inverse_aug: the original task name and the
// map undoing the augmentation encoded in a puzzle name
// "<id>|||t<k>|||<perm>" (geometry first, then colours).
func inverseAug(name string) (string, func(grid) grid, error) {
	if !strings.Contains(name, "|||") {
		return name, func(g grid) grid { return g }, nil
	}
	parts := strings.Split(name, "|||")
	tx, perm := parts[len(parts)-2], parts[len(parts)-1]
	t, err := strconv.Atoi(strings.TrimPrefix(tx, "t"))
	if err != nil || !strings.HasPrefix(tx, "t") || len(perm) != 10 {
		return "", nil, fmt.Errorf("puzzle name %q: want <id>|||t<k>|||<10 colours>", name)
	}
	var inv [256]byte
	for pos, ch := range []byte(perm) {
		if ch < '0' || ch > '9' {
			return "", nil, fmt.Errorf("puzzle name %q: colour %q is not a digit", name, ch)
		}
		inv[ch-'0'] = byte(pos)
	}
	undo := augment.DihedralInverse[0]
	if t >= 0 && t < augment.NumDihedral {
		undo = augment.DihedralInverse[t]
	}
	return parts[0], func(g grid) grid {
		out := grid{Cells: make([]byte, len(g.Cells))}
		out.H, out.W = augment.DihedralRecolor(out.Cells, g.Cells, g.H, g.W, undo, &inv)
		return out
	}, nil
}

// vote is one prediction of a test input: its grid hash and sigmoid(q_halt).
type vote struct {
	hash [sha256.Size]byte
	q    float64
}

// arcPair is one test pair of test_puzzles.json.
type arcPair struct {
	input, output grid
	hasOutput     bool
}

type arcTask struct {
	name  string
	tests []arcPair
}

// ARC is the reference's ARC evaluator (evaluators/arc.py,
// spec/reference-loader-eval.md 3): predictions are cropped, mapped back
// through the inverse augmentation of their puzzle name and voted on per
// original task and test input; Result scores pass@K and writes the Kaggle
// submission.
type ARC struct {
	SubmissionK int
	PassKs      []int
	// Aggregated keeps the votes of every evaluation of a run (the
	// reference's default, quirk Q-E1); otherwise BeginEval clears them.
	Aggregated bool

	identifiers []string
	blank       int32
	tasks       []arcTask
	hmap        map[[sha256.Size]byte]grid
	preds       map[string]map[[sha256.Size]byte][]vote
}

// NewARC loads identifiers.json and test_puzzles.json from the dataset
// directory dir; blank is the metadata's blank_identifier_id.
func NewARC(dir string, blank int32) (*ARC, error) {
	a := &ARC{SubmissionK: 2, PassKs: DefaultPassKs, Aggregated: true, blank: blank}
	path := filepath.Join(dir, "identifiers.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &a.identifiers); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	path = filepath.Join(dir, "test_puzzles.json")
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if a.tasks, err = parseTestPuzzles(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a.reset()
	return a, nil
}

func (a *ARC) reset() {
	a.hmap = map[[sha256.Size]byte]grid{}
	a.preds = map[string]map[[sha256.Size]byte][]vote{}
}

// BeginEval starts an evaluation round.
func (a *ARC) BeginEval() {
	if !a.Aggregated {
		a.reset()
	}
}

// Update records one evaluation batch: inputs and preds are [rows, 900]
// tokens, ids the puzzle identifiers and qHalt the halting logits. Rows
// with the blank identifier (padding) are skipped.
func (a *ARC) Update(inputs, preds, ids []int32, qHalt []float64) error {
	const n = augment.ARCSeqLen
	for i, id := range ids {
		if id == a.blank {
			continue
		}
		if id < 0 || int(id) >= len(a.identifiers) {
			return fmt.Errorf("arc evaluator: puzzle identifier %d outside identifiers.json (%d names)", id, len(a.identifiers))
		}
		orig, inv, err := inverseAug(a.identifiers[id])
		if err != nil {
			return fmt.Errorf("arc evaluator: %w", err)
		}
		ih := inv(cropARC(inputs[i*n : (i+1)*n])).hash()
		p := inv(cropARC(preds[i*n : (i+1)*n]))
		h := p.hash()
		a.hmap[h] = p
		byInput := a.preds[orig]
		if byInput == nil {
			byInput = map[[sha256.Size]byte][]vote{}
			a.preds[orig] = byInput
		}
		byInput[ih] = append(byInput[ih], vote{h, 1 / (1 + math.Exp(-qHalt[i]))})
	}
	return nil
}

// Result scores the votes: for every task of test_puzzles.json, the
// fraction of its test pairs whose output is among the K most voted
// predictions (count, then mean sigmoid(q_halt), first seen on ties),
// averaged over tasks. With dir set it writes dir/submission.json.
func (a *ARC) Result(dir string) (map[string]float64, error) {
	correct := make([]float64, len(a.PassKs))
	sub := []byte{'{'}
	for ti, task := range a.tasks {
		if ti > 0 {
			sub = append(sub, ", "...)
		}
		name, _ := json.Marshal(task.name)
		sub = append(append(sub, name...), ": ["...)
		ok := make([]int, len(a.PassKs))
		entries := 0
		for _, pair := range task.tests {
			ranked := rankVotes(a.preds[task.name][pair.input.hash()])
			if len(ranked) == 0 {
				continue // quirk Q-E2: no entry, counts as wrong
			}
			lh := pair.output.hash()
			for k, K := range a.PassKs {
				if pair.hasOutput && slices.Contains(ranked[:min(K, len(ranked))], lh) {
					ok[k]++
				}
			}
			if entries > 0 {
				sub = append(sub, ", "...)
			}
			entries++
			for j := range max(a.SubmissionK, 1) {
				h := ranked[0]
				if j < len(ranked) {
					h = ranked[j]
				}
				if j == 0 {
					sub = append(sub, '{')
				} else {
					sub = append(sub, ", "...)
				}
				sub = append(sub, `"attempt_`+strconv.Itoa(j+1)+`": `...)
				sub = a.hmap[h].appendJSON(sub)
			}
			sub = append(sub, '}')
		}
		sub = append(sub, ']')
		for k := range correct {
			correct[k] += float64(ok[k]) / float64(len(task.tests))
		}
	}
	sub = append(sub, '}')
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := atomicdir.WriteFileAtomic(filepath.Join(dir, "submission.json"), sub); err != nil {
			return nil, err
		}
	}
	out := map[string]float64{}
	for k, K := range a.PassKs {
		out["ARC/pass@"+strconv.Itoa(K)] = correct[k] / float64(len(a.tasks))
	}
	return out, nil
}

// rankVotes orders the distinct predicted hashes by (count, mean q)
// descending, keeping first-seen order on exact ties.
func rankVotes(votes []vote) [][sha256.Size]byte {
	type tally struct {
		hash  [sha256.Size]byte
		count int
		qsum  float64
	}
	var tallies []*tally
	idx := map[[sha256.Size]byte]*tally{}
	for _, v := range votes {
		t := idx[v.hash]
		if t == nil {
			t = &tally{hash: v.hash}
			idx[v.hash] = t
			tallies = append(tallies, t)
		}
		t.count++
		t.qsum += v.q
	}
	slices.SortStableFunc(tallies, func(x, y *tally) int {
		if x.count != y.count {
			return y.count - x.count
		}
		mx, my := x.qsum/float64(x.count), y.qsum/float64(y.count)
		switch {
		case mx > my:
			return -1
		case mx < my:
			return 1
		}
		return 0
	})
	out := make([][sha256.Size]byte, len(tallies))
	for i, t := range tallies {
		out[i] = t.hash
	}
	return out
}

// parseTestPuzzles reads test_puzzles.json keeping the task order of the
// file (the order of the reference's dict and of submission.json).
func parseTestPuzzles(data []byte) ([]arcTask, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("offset %d: want an object of tasks", dec.InputOffset())
	}
	var tasks []arcTask
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("offset %d: %w", dec.InputOffset(), err)
		}
		name, _ := tok.(string)
		var raw struct {
			Test []struct {
				Input  [][]int `json:"input"`
				Output [][]int `json:"output"`
			} `json:"test"`
		}
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("task %q (offset %d): %w", name, dec.InputOffset(), err)
		}
		t := arcTask{name: name}
		for i, p := range raw.Test {
			in, err := gridOf(p.Input)
			if err != nil {
				return nil, fmt.Errorf("task %q test %d input: %w", name, i, err)
			}
			pair := arcPair{input: in, hasOutput: p.Output != nil}
			if pair.output, err = gridOf(p.Output); err != nil {
				return nil, fmt.Errorf("task %q test %d output: %w", name, i, err)
			}
			t.tests = append(t.tests, pair)
		}
		if len(t.tests) == 0 {
			return nil, fmt.Errorf("task %q has no test pairs", name)
		}
		tasks = append(tasks, t)
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, fmt.Errorf("offset %d: %w", dec.InputOffset(), err)
	}
	return tasks, nil
}

func gridOf(rows [][]int) (grid, error) {
	g := grid{H: len(rows)}
	if g.H > 0 {
		g.W = len(rows[0])
	}
	if g.H > augment.ARCCanvas || g.W > augment.ARCCanvas {
		return grid{}, fmt.Errorf("grid %dx%d larger than %dx%d", g.H, g.W, augment.ARCCanvas, augment.ARCCanvas)
	}
	for r, row := range rows {
		if len(row) != g.W {
			return grid{}, fmt.Errorf("row %d has %d cells, want %d", r, len(row), g.W)
		}
		for c, v := range row {
			if v < 0 || v > 9 {
				return grid{}, fmt.Errorf("cell (%d,%d) = %d, want a colour 0..9", r, c, v)
			}
			g.Cells = append(g.Cells, byte(v))
		}
	}
	return g, nil
}
