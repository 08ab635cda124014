package loader

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/tinyrecursion/trm/dataset"
)

// store is the rows of one dataset split in memory, as a list of Arrow
// record batches of storeSchema (decoded Parquet or mapped IPC); row r of
// the store is row r-starts[c] of chunk c.
type store struct {
	seqLen   int
	starts   []int64  // first row of each chunk, then the total
	examples [][]byte // per chunk: the example column, recordSize(seqLen) bytes per row
	recs     []arrow.RecordBatch
}

// Column positions of storeSchema.
const (
	colExample = iota
	colPuzzle
	colGroup
	colSet
	colAug
)

// recordSize is the width of the example column: the inputs, the labels and
// the puzzle identifier (int32, little-endian) of a row.
func recordSize(seqLen int) int { return 2*seqLen + 4 }

// storeSchema is the in-memory and IPC-cache layout: the contract's columns
// with a row's inputs, labels and puzzle identifier packed into one
// fixed-size example column, so that gathering a row reads one contiguous
// range. Gathering is bound by waits on main memory: with separate columns
// a row of 81 tokens would cost three cache misses instead of about one.
func storeSchema(seqLen int) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "example", Type: &arrow.FixedSizeBinaryType{ByteWidth: recordSize(seqLen)}},
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
// checking that its example column is contiguous and without nulls.
func (s *store) add(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	w := recordSize(s.seqLen)
	a, ok := rec.Column(colExample).(*array.FixedSizeBinary)
	if !ok {
		return fmt.Errorf("column example is %s, want fixed_size_binary(%d)", rec.Column(colExample).DataType(), w)
	}
	if a.NullN() > 0 {
		return fmt.Errorf("column example has %d nulls", a.NullN())
	}
	b := dataset.FixedSizeBytes(a)
	if len(b) != a.Len()*w {
		return fmt.Errorf("column example has %d bytes for %d rows of %d", len(b), a.Len(), w)
	}
	if len(s.starts) == 0 {
		s.starts = []int64{0}
	}
	rec.Retain()
	s.recs = append(s.recs, rec)
	s.examples = append(s.examples, b)
	s.starts = append(s.starts, s.starts[len(s.starts)-1]+rec.NumRows())
	return nil
}

func (s *store) rows() int64 {
	if len(s.starts) == 0 {
		return 0
	}
	return s.starts[len(s.starts)-1]
}

// record returns row r's example record: inputs, labels, identifier.
func (s *store) record(r int64) []byte {
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
	w := recordSize(s.seqLen)
	off := int(r-s.starts[lo]) * w
	return s.examples[lo][off : off+w : off+w]
}

// splitRecord returns a record's inputs, labels and puzzle identifier.
func splitRecord(rec []byte, seqLen int) (in, lab []byte, id int32) {
	return rec[:seqLen:seqLen], rec[seqLen : 2*seqLen : 2*seqLen], int32(binary.LittleEndian.Uint32(rec[2*seqLen:]))
}

func (s *store) release() {
	for _, r := range s.recs {
		r.Release()
	}
	s.recs, s.examples, s.starts = nil, nil, nil
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
