package pipeline

import (
	"fmt"
	"math"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/nprand"
)

// The Sudoku and Maze builders' numpy compat mode (spec/reference-data.md
// 3.6 and 4.3). The reference builders draw from numpy's global legacy
// RandomState and never seed it, so their output is not reproducible; with
// --compat numpy --seed S, trm produces exactly what they produce when
// numpy.random.seed(S) runs before preprocess_data. In that one stream:
// the train split's subsample choice(N, k, replace=False) over the kept rows
// (only when k < N), then, Sudoku only, one shuffle_sudoku draw sequence per
// augmentation of each kept row in order. The test split draws nothing.

// checkPuzzleCompat validates the compat options of the Sudoku or Maze
// builder.
func checkPuzzleCompat(builder, compat string, seed int64, generate int) error {
	switch {
	case compat == "":
		return nil
	case compat != CompatNumpy:
		return fmt.Errorf("%s: unknown --compat %q (only %q)", builder, compat, CompatNumpy)
	case seed < 0 || seed > math.MaxUint32:
		return fmt.Errorf("%s: --seed %d: numpy's seed must be in 0..2^32-1", builder, seed)
	case generate > 0:
		return fmt.Errorf("%s: --compat %s reproduces the reference builder, which reads CSV files; it does not apply to --generate", builder, compat)
	}
	return nil
}

// numpyStream returns the global numpy stream of a compat build, seeded as
// numpy.random.seed(seed), or nil outside compat mode. The seed has been
// checked by checkPuzzleCompat.
func numpyStream(compat string, seed int64) *nprand.RandomState {
	if compat != CompatNumpy {
		return nil
	}
	return nprand.New(uint32(seed))
}

// subsampleChooser returns how a subsample picks k of n kept rows: numpy's
// choice(n, k, replace=False) from the global stream in compat mode (a
// permutation prefix), otherwise a permutation prefix from the builder's own
// subsample stream.
func subsampleChooser(rs *nprand.RandomState, seed int64, stream string) func(n, k int) []int {
	if rs != nil {
		return rs.Choice
	}
	return func(n, k int) []int { return GroupRand(seed, stream, 0).Perm(n)[:k] }
}

// numpySudokuShuffle draws one shuffle_sudoku from the global stream, in the
// reference's order: permutation of the digits 1..9 (the same draws as
// permutation(9)), rand() < 0.5 for the transpose, then eight
// permutation(3): bands, the rows of each band, stacks, the columns of each
// stack.
func numpySudokuShuffle(rs *nprand.RandomState) *augment.SudokuShuffle {
	var perm9 [9]int
	rs.PermutationInto(perm9[:])
	var digits [9]byte
	for i, v := range perm9 {
		digits[i] = byte(v + 1)
	}
	transpose := rs.RandomSample() < 0.5
	return assembleSudokuShuffle(digits, transpose, func() (p [3]int) {
		rs.PermutationInto(p[:])
		return p
	})
}
