package pipeline

import (
	"context"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/nprand"
)

// chunkRows is about how many rows travel together through the stages: a
// Sudoku test row is a whole group, and handing groups over one at a time
// costs more than encoding them; large groups travel alone.
const chunkRows = 64

// writeSplit streams the inputs of one split through work (on all workers)
// into the split's shards, in input order, and closes the split with the
// metadata that meta derives from the final counts. Inputs travel in chunks
// of about chunkRows rows (groupRows is the rows one input makes); work sees
// each input's index in the split, so chunking does not change the output.
func writeSplit[In any](ctx context.Context, w *dataset.Writer, spec dataset.SplitSpec, out Output, groupRows int,
	next func() (In, bool, error), work func(index int, in In) (*dataset.Group, error),
	meta func(dataset.SplitStats) dataset.Metadata, bar *progress.Bar) (dataset.SplitStats, error) {
	sw, err := w.CreateSplit(spec)
	if err != nil {
		return dataset.SplitStats{}, err
	}
	chunkLen := max(1, chunkRows/max(1, groupRows))
	nextChunk := func() ([]In, bool, error) {
		var chunk []In
		for len(chunk) < chunkLen {
			in, ok, err := next()
			if err != nil {
				return nil, false, err
			}
			if !ok {
				break
			}
			chunk = append(chunk, in)
		}
		return chunk, len(chunk) > 0, nil
	}
	workChunk := func(index int, chunk []In) ([]*dataset.Group, error) {
		groups := make([]*dataset.Group, len(chunk))
		for i, in := range chunk {
			g, err := work(index*chunkLen+i, in)
			if err != nil {
				return nil, err
			}
			groups[i] = g
		}
		return groups, nil
	}
	err = Ordered(ctx, out.WorkerCount(), nextChunk, workChunk, func(_ int, groups []*dataset.Group) error {
		rows := 0
		for _, g := range groups {
			if err := sw.WriteGroup(g); err != nil {
				return err
			}
			rows += g.Rows()
		}
		bar.Add(rows)
		return nil
	})
	if err != nil {
		return dataset.SplitStats{}, err
	}
	st := sw.Stats()
	return st, sw.Close(meta(st))
}

// singleExampleMetadata is dataset.json as the reference's Sudoku and Maze
// builders write it: one example per puzzle, identifier 0 for all, and the
// group count stored as total_puzzles (quirks Q-S2, Q-M2).
func singleExampleMetadata(vocab, seqLen int, st dataset.SplitStats) dataset.Metadata {
	return dataset.Metadata{
		IgnoreLabelID:        dataset.IntPtr(0),
		VocabSize:            vocab,
		SeqLen:               seqLen,
		NumPuzzleIdentifiers: 1,
		TotalGroups:          int(st.Groups),
		MeanPuzzleExamples:   1,
		TotalPuzzles:         int(st.Groups),
		Sets:                 []string{"all"},
	}
}

// commitSingleExample finishes a Sudoku or Maze build: identifiers.json
// (these builders have no puzzle identifiers), the compat stream's final
// state for tests, and the commit.
func commitSingleExample(w *dataset.Writer, rs *nprand.RandomState, numpyDone func(*nprand.RandomState)) error {
	if err := w.WriteFile("identifiers.json", []byte(`["<blank>"]`)); err != nil {
		return err
	}
	if rs != nil && numpyDone != nil {
		numpyDone(rs)
	}
	return w.Commit()
}
