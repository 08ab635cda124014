package loader

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
)

// splitSpec describes a split to write: puzzle sizes per group, the
// identifier of every puzzle (nil: 1, 2, ... in order), and the tokens of
// each row (nil: rowTokens).
type splitSpec struct {
	name   string
	groups [][]int
	ids    []int32
	shape  [2]int
	vocab  int
	numIDs int // num_puzzle_identifiers (0: max id + 1)
	tokens func(row int, in, lab []byte)
}

// rowTokens writes the row number into the first bytes of inputs and
// labels (vocab 256), so a test can tell which row landed where.
func rowTokens(row int, in, lab []byte) {
	for i := range in {
		in[i] = byte(row*7 + i)
		lab[i] = byte(row*13 + 3*i)
	}
	binary.LittleEndian.PutUint32(in, uint32(row))
	binary.LittleEndian.PutUint32(lab, ^uint32(row))
}

// rowOf decodes the row number rowTokens wrote.
func rowOf(in []byte) int { return int(binary.LittleEndian.Uint32(in)) }

// writeDataset writes a dataset with the given splits; shardBytes small
// makes several shards.
func writeDataset(t testing.TB, dir string, shardBytes int64, specs ...splitSpec) string {
	t.Helper()
	w, err := dataset.Create(dir, dataset.Options{ShardBytes: shardBytes, RowGroupBytes: shardBytes / 2, Builder: dataset.Builder{Name: "loader-test", Config: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, sp := range specs {
		if sp.vocab == 0 {
			sp.vocab = 256
		}
		if sp.tokens == nil {
			sp.tokens = rowTokens
		}
		seqLen := sp.shape[0] * sp.shape[1]
		s, err := w.CreateSplit(dataset.SplitSpec{Name: sp.name, VocabSize: sp.vocab, GridShape: sp.shape})
		if err != nil {
			t.Fatal(err)
		}
		row, puzzle := 0, 0
		maxID := int32(0)
		g := &dataset.Group{}
		for _, sizes := range sp.groups {
			g.Reset()
			for _, n := range sizes {
				for range n {
					start := len(g.Inputs)
					g.Inputs = append(g.Inputs, make([]byte, seqLen)...)
					g.Labels = append(g.Labels, make([]byte, seqLen)...)
					sp.tokens(row, g.Inputs[start:], g.Labels[start:])
					row++
				}
				id := int32(puzzle + 1)
				if sp.ids != nil {
					id = sp.ids[puzzle]
				}
				maxID = max(maxID, id)
				g.AddPuzzle(n, id, "")
				puzzle++
			}
			if err := s.WriteGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		st := s.Stats()
		numIDs := sp.numIDs
		if numIDs == 0 {
			numIDs = int(maxID) + 1
		}
		meta := dataset.Metadata{IgnoreLabelID: dataset.IntPtr(0), VocabSize: sp.vocab, SeqLen: seqLen, NumPuzzleIdentifiers: numIDs,
			TotalGroups: int(st.Groups), TotalPuzzles: int(st.Puzzles), MeanPuzzleExamples: float64(st.Rows) / float64(st.Puzzles), Sets: []string{"all"}}
		if err := s.Close(meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uniformGroups returns n groups of puzzles puzzles of sizes 1+(g+p)%maxEx.
func uniformGroups(n, puzzles, maxEx int) [][]int {
	out := make([][]int, n)
	for g := range out {
		for p := range puzzles {
			out[g] = append(out[g], 1+(g*3+p)%maxEx)
		}
	}
	return out
}

func openSource(t testing.TB, dirs []string, split string, opts OpenOptions) *Source {
	t.Helper()
	src, err := Open(context.Background(), dirs, split, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	})
	return src
}

func newLoader(t testing.TB, src *Source, cfg Config) *Loader {
	t.Helper()
	l, err := New(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// snap is a batch copied out of its buffer, for comparisons.
type snap struct {
	Set                    string
	Pass                   int
	Index                  int64
	Last                   bool
	Inputs, Labels         []byte
	IDs, Puzzles, Examples []int32
	Rows, GlobalRows       int
}

func take(b *Batch) snap {
	s := snap{Set: b.Set, Pass: b.Pass, Index: b.Index, Last: b.LastOfPass, Rows: b.Rows, GlobalRows: b.GlobalRows,
		Inputs: append([]byte(nil), b.Inputs...), Labels: append([]byte(nil), b.Labels...),
		IDs: append([]int32(nil), b.PuzzleIdentifiers...), Puzzles: append([]int32(nil), b.Puzzles...),
		Examples: append([]int32(nil), b.Examples...)}
	b.Release()
	return s
}

// drain returns up to n batches (n < 0: until io.EOF).
func drain(t testing.TB, l *Loader, n int) []snap {
	t.Helper()
	var out []snap
	for n < 0 || len(out) < n {
		b, err := l.Next(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, take(b))
	}
	return out
}

func tempDataset(t testing.TB) string { return filepath.Join(t.TempDir(), "ds") }
