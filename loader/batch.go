package loader

import (
	"unsafe"
)

// IgnoreLabel is the label value the reference's loss ignores
// (IGNORE_LABEL_ID): labels equal to the dataset's ignore_label_id and the
// labels of padding rows widen to it.
const IgnoreLabel = -100

// Batch is one rank's share of a global batch. Its arrays live in one
// buffer from the Loader's Allocator; call Release when done with it (the
// buffer then goes back to the pool and the arrays must no longer be used).
type Batch struct {
	Set   string // the reference's set key: "all" for the first dataset, "all1" for the second, ...
	Pass  int    // 1-based pass (iteration of epochs_per_iter epochs; one sweep for evaluation)
	Index int64  // 0-based count of batches before this one, over all passes
	// LastOfPass is set on the final batch of a pass.
	LastOfPass bool

	SeqLen int
	// Inputs and Labels are [LocalBatch, SeqLen] tokens as stored: uint8,
	// labels not yet mapped to IgnoreLabel (see WidenLabels). Padding rows
	// hold pad_id inputs and ignore_label_id labels.
	Inputs, Labels []byte
	// PuzzleIdentifiers are the embedding ids (blank_identifier_id for
	// padding); Puzzles and Examples are the puzzle and example (row)
	// indices within Set, -1 for padding. In shard-local mode they count
	// within the rank's own shards.
	PuzzleIdentifiers, Puzzles, Examples []int32

	// Rows is the number of real rows; rows Rows.. are padding (evaluation
	// only). GlobalRows is the number of real rows in the whole global batch
	// (the reference's third yielded value).
	Rows, GlobalRows int

	ignoreLabel *int
	buf         []byte
	offsets     BatchOffsets
	pool        *pool
}

// BatchOffsets are the byte offsets of a batch's arrays within its Buffer,
// each a multiple of Alignment: once Buffer is copied to device address d,
// the inputs are at d+Inputs, the puzzle identifiers at
// d+PuzzleIdentifiers, and so on.
type BatchOffsets struct {
	Inputs, Labels, PuzzleIdentifiers, Puzzles, Examples int
}

// Buffer is the one buffer, from the Loader's Allocator, that all of the
// batch's arrays are slices of: a trainer copies it to the device in one
// transfer (asynchronously when the Allocator hands out pinned memory) and
// finds each array at its offset within it (Offsets). Valid until Release.
func (b *Batch) Buffer() []byte { return b.buf }

// Offsets says where each array lies within Buffer; it is the same for
// every batch of a Loader.
func (b *Batch) Offsets() BatchOffsets { return b.offsets }

// LocalBatch is the number of rows, padding included.
func (b *Batch) LocalBatch() int { return len(b.PuzzleIdentifiers) }

// Release hands the batch's buffer back to the loader. The batch must not be
// used afterwards. Releasing twice is a no-op.
func (b *Batch) Release() {
	if b.buf != nil {
		b.pool.put(b.buf)
		b.buf = nil
		b.Inputs, b.Labels, b.PuzzleIdentifiers, b.Puzzles, b.Examples = nil, nil, nil, nil, nil
	}
}

// WidenInputs returns the inputs as int32 (the reference's collate dtype),
// reusing dst when it is large enough.
func (b *Batch) WidenInputs(dst []int32) []int32 {
	dst = grow(dst, len(b.Inputs))
	for i, t := range b.Inputs {
		dst[i] = int32(t)
	}
	return dst
}

// WidenLabels returns the labels as the reference's collate hands them to
// the loss: int32, ignore_label_id mapped to IgnoreLabel, and every label
// of a padding row IgnoreLabel.
func (b *Batch) WidenLabels(dst []int32) []int32 {
	dst = grow(dst, len(b.Labels))
	real := b.Rows * b.SeqLen
	ignore := -1
	if b.ignoreLabel != nil {
		ignore = *b.ignoreLabel
	}
	for i, t := range b.Labels[:real] {
		if int(t) == ignore {
			dst[i] = IgnoreLabel
		} else {
			dst[i] = int32(t)
		}
	}
	for i := real; i < len(dst); i++ {
		dst[i] = IgnoreLabel
	}
	return dst
}

func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// layout places a batch's arrays in one buffer, each at a multiple of
// Alignment, in the order inputs, labels, identifiers, puzzles, examples.
type layout struct {
	rows, seqLen int
	off          [5]int
	size         int
}

func newLayout(rows, seqLen int) layout {
	l := layout{rows: rows, seqLen: seqLen}
	sizes := [5]int{rows * seqLen, rows * seqLen, 4 * rows, 4 * rows, 4 * rows}
	pos := 0
	for i, s := range sizes {
		l.off[i] = pos
		pos += (s + Alignment - 1) / Alignment * Alignment
	}
	l.size = pos
	return l
}

// view points a batch's arrays into buf.
func (l layout) view(b *Batch, buf []byte) {
	n := l.rows * l.seqLen
	b.buf = buf
	b.offsets = BatchOffsets{Inputs: l.off[0], Labels: l.off[1], PuzzleIdentifiers: l.off[2], Puzzles: l.off[3], Examples: l.off[4]}
	b.SeqLen = l.seqLen
	b.Inputs = buf[l.off[0] : l.off[0]+n : l.off[0]+n]
	b.Labels = buf[l.off[1] : l.off[1]+n : l.off[1]+n]
	b.PuzzleIdentifiers = int32s(buf[l.off[2]:], l.rows)
	b.Puzzles = int32s(buf[l.off[3]:], l.rows)
	b.Examples = int32s(buf[l.off[4]:], l.rows)
}

// int32s views the first 4*n bytes of b (4-byte aligned) as int32s.
func int32s(b []byte, n int) []int32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b[:4*n]))), n)
}
