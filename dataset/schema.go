package dataset

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column names of a split's Parquet shards (DESIGN.md section 3).
const (
	ColInputs           = "inputs"
	ColLabels           = "labels"
	ColPuzzleIdentifier = "puzzle_identifier"
	ColPuzzle           = "puzzle"
	ColGroup            = "group"
	ColSet              = "set"
	ColAug              = "aug"
)

// File key-value metadata keys written into every shard, so that a shard is
// self-describing even when copied out of its dataset.
const (
	KeyMetadata  = "trm.dataset_json" // the split's dataset.json, verbatim
	KeyGridShape = "trm.grid_shape"   // JSON [H,W] of inputs/labels, e.g. [30,30]
	KeyFormat    = "trm.format"       // FormatName/FormatVersion
	KeySplit     = "trm.split"
)

// Schema returns the Arrow schema of a split whose sequences are seqLen
// tokens long. Tokens are fixed-size binary rather than list<uint8>: one
// contiguous [rows, seq_len] byte matrix, without repetition levels per
// token (DESIGN.md explains the 12x write-speed difference).
func Schema(seqLen int) *arrow.Schema {
	tokens := &arrow.FixedSizeBinaryType{ByteWidth: seqLen}
	return arrow.NewSchema([]arrow.Field{
		{Name: ColInputs, Type: tokens},
		{Name: ColLabels, Type: tokens},
		{Name: ColPuzzleIdentifier, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColPuzzle, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColGroup, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColSet, Type: arrow.BinaryTypes.String},
		{Name: ColAug, Type: arrow.BinaryTypes.String},
	}, nil)
}

// CheckSchema reports whether s is the contract's schema for seqLen, naming
// the first column that differs.
func CheckSchema(s *arrow.Schema, seqLen int) error {
	want := Schema(seqLen)
	if s.NumFields() != want.NumFields() {
		return fmt.Errorf("schema has %d columns, want %d (%v)", s.NumFields(), want.NumFields(), want)
	}
	for i, f := range want.Fields() {
		got := s.Field(i)
		if got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) {
			return fmt.Errorf("column %d is %s %s, want %s %s", i, got.Name, got.Type, f.Name, f.Type)
		}
	}
	return nil
}
