package loader

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/tinyrecursion/trm/dataset"
)

// store is the rows of one dataset split in memory, as a list of Arrow
// record batches of storeSchema (decoded Parquet or mapped IPC); row r of
// the store is row r-starts[c] of chunk c.
type store struct {
	seqLen int
	starts []int64  // first row of each chunk, then the total
	tokens [][]byte // per chunk: rows of inputs then labels, 2*seqLen bytes each
	recs   []arrow.RecordBatch
}

// Column positions of storeSchema.
const (
	colTokens = iota
	colIdentifier
	colPuzzle
	colGroup
	colSet
	colAug
)

// storeSchema is the in-memory and IPC-cache layout: the contract's columns
// with inputs and labels interleaved into one tokens column of 2*seq_len
// bytes per row, so that gathering a row reads one contiguous range (one
// cache miss per row instead of two, which matters for 81-token rows).
func storeSchema(seqLen int) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "tokens", Type: &arrow.FixedSizeBinaryType{ByteWidth: 2 * seqLen}},
		{Name: dataset.ColPuzzleIdentifier, Type: arrow.PrimitiveTypes.Int32},
		{Name: dataset.ColPuzzle, Type: arrow.PrimitiveTypes.Int32},
		{Name: dataset.ColGroup, Type: arrow.PrimitiveTypes.Int32},
		{Name: dataset.ColSet, Type: arrow.BinaryTypes.String},
		{Name: dataset.ColAug, Type: arrow.BinaryTypes.String},
	}, nil)
}

// checkStoreSchema reports whether s is storeSchema(seqLen), naming the
// first column that differs.
func checkStoreSchema(s *arrow.Schema, seqLen int) error {
	want := storeSchema(seqLen)
	if s.NumFields() != want.NumFields() {
		return fmt.Errorf("schema has %d columns, want %d", s.NumFields(), want.NumFields())
	}
	for i, f := range want.Fields() {
		if got := s.Field(i); got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) {
			return fmt.Errorf("column %d is %s %s, want %s %s", i, got.Name, got.Type, f.Name, f.Type)
		}
	}
	return nil
}

// add appends one record batch of storeSchema (retaining it) after
// checking that its tokens are contiguous and without nulls.
func (s *store) add(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	a, ok := rec.Column(colTokens).(*array.FixedSizeBinary)
	if !ok {
		return fmt.Errorf("column tokens is %s, want fixed_size_binary(%d)", rec.Column(colTokens).DataType(), 2*s.seqLen)
	}
	if a.NullN() > 0 {
		return fmt.Errorf("column tokens has %d nulls", a.NullN())
	}
	tok := dataset.FixedSizeBytes(a)
	if len(tok) != a.Len()*2*s.seqLen {
		return fmt.Errorf("column tokens has %d bytes for %d rows of 2x%d tokens", len(tok), a.Len(), s.seqLen)
	}
	if len(s.starts) == 0 {
		s.starts = []int64{0}
	}
	rec.Retain()
	s.recs = append(s.recs, rec)
	s.tokens = append(s.tokens, tok)
	s.starts = append(s.starts, s.starts[len(s.starts)-1]+rec.NumRows())
	return nil
}

func (s *store) rows() int64 {
	if len(s.starts) == 0 {
		return 0
	}
	return s.starts[len(s.starts)-1]
}

// row returns the input and label tokens of row r.
func (s *store) row(r int64) (in, lab []byte) {
	t := s.pair(r)
	n := s.seqLen
	return t[:n:n], t[n:]
}

// pair returns row r's 2*seqLen bytes: inputs, then labels.
func (s *store) pair(r int64) []byte {
	// Binary search for the chunk, without sort.Search's closure call per
	// step: this runs for every gathered row.
	lo, hi := 0, len(s.starts)-1 // starts[lo] <= r < starts[hi]
	for lo+1 < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.starts[mid] <= r {
			lo = mid
		} else {
			hi = mid
		}
	}
	w := 2 * s.seqLen
	off := int(r-s.starts[lo]) * w
	return s.tokens[lo][off : off+w : off+w]
}

func (s *store) release() {
	for _, r := range s.recs {
		r.Release()
	}
	s.recs, s.tokens, s.starts = nil, nil, nil
}

// int32Col returns column i of rec as int32 values without nulls.
func int32Col(rec arrow.RecordBatch, i int) ([]int32, error) {
	a, ok := rec.Column(i).(*array.Int32)
	if !ok {
		return nil, fmt.Errorf("column %s is %s, want int32", rec.ColumnName(i), rec.Column(i).DataType())
	}
	if a.NullN() > 0 {
		return nil, fmt.Errorf("column %s has %d nulls", rec.ColumnName(i), a.NullN())
	}
	return a.Int32Values(), nil
}
