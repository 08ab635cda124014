package loader

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/tinyrecursion/trm/dataset"
)

// store is the rows of one dataset split in memory, as a list of Arrow
// record batches (decoded Parquet or mapped IPC); row r of the store is row
// r-starts[c] of chunk c.
type store struct {
	seqLen int
	starts []int64 // first row of each chunk, then the total
	inputs [][]byte
	labels [][]byte
	recs   []arrow.RecordBatch
}

// add appends one record batch (retaining it) after checking that its
// token columns are contiguous fixed-size binary without nulls.
func (s *store) add(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	tok := func(i int) ([]byte, error) {
		a, ok := rec.Column(i).(*array.FixedSizeBinary)
		if !ok {
			return nil, fmt.Errorf("column %s is %s, want fixed_size_binary(%d)", rec.ColumnName(i), rec.Column(i).DataType(), s.seqLen)
		}
		if a.NullN() > 0 {
			return nil, fmt.Errorf("column %s has %d nulls", rec.ColumnName(i), a.NullN())
		}
		b := dataset.FixedSizeBytes(a)
		if len(b) != a.Len()*s.seqLen {
			return nil, fmt.Errorf("column %s has %d bytes for %d rows of %d tokens", rec.ColumnName(i), len(b), a.Len(), s.seqLen)
		}
		return b, nil
	}
	in, err := tok(0)
	if err != nil {
		return err
	}
	lab, err := tok(1)
	if err != nil {
		return err
	}
	if len(s.starts) == 0 {
		s.starts = []int64{0}
	}
	rec.Retain()
	s.recs = append(s.recs, rec)
	s.inputs = append(s.inputs, in)
	s.labels = append(s.labels, lab)
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
	c := lo
	off := int(r-s.starts[c]) * s.seqLen
	return s.inputs[c][off : off+s.seqLen], s.labels[c][off : off+s.seqLen]
}

func (s *store) release() {
	for _, r := range s.recs {
		r.Release()
	}
	s.recs, s.inputs, s.labels, s.starts = nil, nil, nil, nil
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
