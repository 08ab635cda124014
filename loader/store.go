package loader

import (
	"encoding/binary"
	"fmt"
	"math/bits"

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
	// chunkAt[r>>shift] is the chunk holding row r rounded down to a
	// multiple of 1<<shift (see finish).
	chunkAt []int32
	shift   uint
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

// maxChunkIndex bounds chunkAt: 256 KB, which stays in cache while rows
// are gathered.
const maxChunkIndex = 1 << 16

// finish builds the row-to-chunk index once every chunk is added. Buckets
// of 1<<shift rows, no larger than any chunk but the last, hold the start
// of at most one chunk, so that record finds a row's chunk with one table
// read and one comparison, instead of a binary search whose branches
// mispredict on random rows.
func (s *store) finish() {
	rows := s.rows()
	if rows == 0 {
		return
	}
	least := rows
	for c := 0; c+1 < len(s.examples); c++ {
		least = min(least, s.starts[c+1]-s.starts[c])
	}
	s.shift = uint(bits.Len64(uint64(least)) - 1)
	for rows>>s.shift >= maxChunkIndex {
		s.shift++ // tiny chunks: some buckets span several (see record)
	}
	s.chunkAt = make([]int32, rows>>s.shift+1)
	c := 0
	for b := range s.chunkAt {
		for c+1 < len(s.examples) && s.starts[c+1] <= int64(b)<<s.shift {
			c++
		}
		s.chunkAt[b] = int32(c)
	}
}

// record returns row r's example record: inputs, labels, identifier.
func (s *store) record(r int64) []byte {
	c := int(s.chunkAt[r>>s.shift])
	// One step forward, without a branch: starts[c+1]-1-r is negative
	// when r is past the chunk the bucket begins in.
	c += int(uint64(s.starts[c+1]-1-r) >> 63)
	for r >= s.starts[c+1] { // only where finish had to widen the buckets
		c++
	}
	w := recordSize(s.seqLen)
	off := int(r-s.starts[c]) * w
	return s.examples[c][off : off+w : off+w]
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
