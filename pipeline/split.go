package pipeline

import (
	"context"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
)

// writeSplit streams the inputs of one split through work (on all workers)
// into the split's shards, in input order, and closes the split with the
// metadata that meta derives from the final counts.
func writeSplit[In any](ctx context.Context, w *dataset.Writer, spec dataset.SplitSpec, out Output,
	next func() (In, bool, error), work func(index int, in In) (*dataset.Group, error),
	meta func(dataset.SplitStats) dataset.Metadata, bar *progress.Bar) (dataset.SplitStats, error) {
	sw, err := w.CreateSplit(spec)
	if err != nil {
		return dataset.SplitStats{}, err
	}
	err = Ordered(ctx, out.WorkerCount(), next, work, func(_ int, g *dataset.Group) error {
		if err := sw.WriteGroup(g); err != nil {
			return err
		}
		bar.Add(g.Rows())
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

// blankIdentifiers is identifiers.json of builders without puzzle
// identifiers.
var blankIdentifiers = []byte(`["<blank>"]`)
