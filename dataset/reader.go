package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Dataset is an opened dataset directory: its manifest and the metadata of
// every split, both validated.
type Dataset struct {
	Dir      string
	Manifest *Manifest
	Meta     map[string]Metadata
}

// Open reads and validates dir's manifest and every split's dataset.json.
// It does not read the shards (Verify does).
func Open(dir string) (*Dataset, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Dir: dir, Manifest: man, Meta: map[string]Metadata{}}
	for _, s := range man.Splits {
		m, err := ReadMetadata(dir, s.Name)
		if err != nil {
			return nil, err
		}
		if m.SeqLen != s.GridShape[0]*s.GridShape[1] {
			return nil, fmt.Errorf("%s: split %s: seq_len %d disagrees with the manifest's grid shape %v", dir, s.Name, m.SeqLen, s.GridShape)
		}
		ds.Meta[s.Name] = m
	}
	return ds, nil
}

// ReadMetadata reads dir/split/dataset.json.
func ReadMetadata(dir, split string) (Metadata, error) {
	path := filepath.Join(dir, split, "dataset.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return Metadata{}, err
	}
	return ParseMetadata(path, data)
}

// Split returns the manifest and metadata of a split, or an error listing
// the splits there are.
func (d *Dataset) Split(name string) (*SplitManifest, Metadata, error) {
	s, ok := d.Manifest.Split(name)
	if !ok {
		var names []string
		for _, s := range d.Manifest.Splits {
			names = append(names, s.Name)
		}
		return nil, Metadata{}, fmt.Errorf("%s: no split %q (have %v)", d.Dir, name, names)
	}
	return s, d.Meta[name], nil
}

// ShardPath is the absolute path of a shard.
func (d *Dataset) ShardPath(sh Shard) string {
	return filepath.Join(d.Dir, filepath.FromSlash(sh.File))
}

// NewArrowReader is pqarrow.NewFileReader for a shard, which may come from
// anywhere: the contract's columns are plain Parquet types that map to
// Arrow without the schema an Arrow writer embeds in the file metadata, and
// pqarrow trusts that embedded IPC schema blindly (a corrupt one makes it
// allocate tens of gigabytes; found by FuzzReadShard), so the reader drops
// it from rdr's metadata first.
func NewArrowReader(rdr *file.Reader, props pqarrow.ArrowReadProperties, mem memory.Allocator) (*pqarrow.FileReader, error) {
	const arrowSchemaKey = "ARROW:schema"
	md := rdr.MetaData().FileMetaData
	keep := md.KeyValueMetadata[:0:0]
	for _, e := range md.KeyValueMetadata {
		if e.Key != arrowSchemaKey {
			keep = append(keep, e)
		}
	}
	md.KeyValueMetadata = keep
	return pqarrow.NewFileReader(rdr, props, mem)
}

// ShardData is a shard decoded into Arrow memory.
type ShardData struct {
	Table    arrow.Table
	KeyValue map[string]string
}

// Release frees the shard's Arrow buffers.
func (s *ShardData) Release() { s.Table.Release() }

// ReadShard decodes a whole shard with pqarrow, in parallel over columns,
// and checks its schema against the contract for seqLen.
func ReadShard(ctx context.Context, path string, seqLen int, mem memory.Allocator) (*ShardData, error) {
	rdr, err := file.OpenParquetFile(path, false, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rdr.Close()
	kv := map[string]string{}
	for _, e := range rdr.MetaData().KeyValueMetadata() {
		if e.Value != nil {
			kv[e.Key] = *e.Value
		}
	}
	// One batch per row group: a larger batch size makes pqarrow reserve
	// and zero-fill token buffers far beyond the rows there are.
	var batch int64 = 1
	for i := range rdr.NumRowGroups() {
		batch = max(batch, rdr.MetaData().RowGroup(i).NumRows())
	}
	fr, err := NewArrowReader(rdr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: batch}, mem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := CheckSchema(schema, seqLen); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &ShardData{Table: tbl, KeyValue: kv}, nil
}

// Rows is a shard's columns flattened to plain slices, for verification and
// display. Inputs and Labels are rows*seq_len bytes.
type Rows struct {
	SeqLen                       int
	Inputs, Labels               []byte
	Identifiers, Puzzles, Groups []int32
	Sets, Augs                   []string
}

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.Puzzles) }

// Flatten copies a decoded shard into Rows.
func (s *ShardData) Flatten(seqLen int) (*Rows, error) {
	r := &Rows{SeqLen: seqLen}
	for i := range int(s.Table.NumCols()) {
		col := s.Table.Column(i)
		for _, chunk := range col.Data().Chunks() {
			switch a := chunk.(type) {
			case *array.FixedSizeBinary:
				if a.NullN() > 0 {
					return nil, fmt.Errorf("column %s has nulls", col.Name())
				}
				raw := FixedSizeBytes(a)
				if col.Name() == ColInputs {
					r.Inputs = append(r.Inputs, raw...)
				} else {
					r.Labels = append(r.Labels, raw...)
				}
			case *array.Int32:
				if a.NullN() > 0 {
					return nil, fmt.Errorf("column %s has nulls", col.Name())
				}
				switch col.Name() {
				case ColPuzzleIdentifier:
					r.Identifiers = append(r.Identifiers, a.Int32Values()...)
				case ColPuzzle:
					r.Puzzles = append(r.Puzzles, a.Int32Values()...)
				case ColGroup:
					r.Groups = append(r.Groups, a.Int32Values()...)
				}
			case *array.String:
				for j := range a.Len() {
					if col.Name() == ColSet {
						r.Sets = append(r.Sets, a.Value(j))
					} else {
						r.Augs = append(r.Augs, a.Value(j))
					}
				}
			default:
				return nil, fmt.Errorf("column %s has unexpected type %s", col.Name(), chunk.DataType())
			}
		}
	}
	n := len(r.Puzzles)
	if len(r.Inputs) != n*seqLen || len(r.Labels) != n*seqLen || len(r.Identifiers) != n || len(r.Groups) != n || len(r.Sets) != n || len(r.Augs) != n {
		return nil, fmt.Errorf("columns have different lengths")
	}
	return r, nil
}

// GridShape decodes the trm.grid_shape key of a shard.
func GridShape(kv map[string]string) ([2]int, error) {
	var shape [2]int
	if err := json.Unmarshal([]byte(kv[KeyGridShape]), &shape); err != nil {
		return shape, fmt.Errorf("file metadata %s = %q: %w", KeyGridShape, kv[KeyGridShape], err)
	}
	return shape, nil
}

// FixedSizeBytes returns the contiguous value bytes of a fixed-size binary
// array (rows*width bytes), without copying: the [rows, seq_len] token
// matrix a trainer wants.
func FixedSizeBytes(a *array.FixedSizeBinary) []byte {
	width := a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth
	data := a.Data()
	buf := data.Buffers()[1]
	if buf == nil {
		return nil
	}
	start := data.Offset() * width
	return buf.Bytes()[start : start+data.Len()*width]
}

// ReadSplit reads every row of a split into memory, shard by shard in
// storage order.
func (d *Dataset) ReadSplit(ctx context.Context, split string) (*Rows, error) {
	s, meta, err := d.Split(split)
	if err != nil {
		return nil, err
	}
	all := &Rows{SeqLen: meta.SeqLen}
	for _, sh := range s.Shards {
		data, err := ReadShard(ctx, d.ShardPath(sh), meta.SeqLen, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		r, err := data.Flatten(meta.SeqLen)
		data.Release()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.ShardPath(sh), err)
		}
		all.Inputs = append(all.Inputs, r.Inputs...)
		all.Labels = append(all.Labels, r.Labels...)
		all.Identifiers = append(all.Identifiers, r.Identifiers...)
		all.Puzzles = append(all.Puzzles, r.Puzzles...)
		all.Groups = append(all.Groups, r.Groups...)
		all.Sets = append(all.Sets, r.Sets...)
		all.Augs = append(all.Augs, r.Augs...)
	}
	return all, nil
}

// Example is one row of a split.
type Example struct {
	Row                       int64
	Input, Label              []byte
	Identifier, Puzzle, Group int32
	Set, Aug                  string
}

// ReadRow reads row n of a split, decoding only the shard that holds it.
func (d *Dataset) ReadRow(ctx context.Context, split string, n int64) (*Example, error) {
	s, meta, err := d.Split(split)
	if err != nil {
		return nil, err
	}
	if n < 0 || n >= s.Rows {
		return nil, fmt.Errorf("%s: split %s has rows 0..%d, not %d", d.Dir, split, s.Rows-1, n)
	}
	for _, sh := range s.Shards {
		if n >= sh.FirstRow+sh.Rows {
			continue
		}
		data, err := ReadShard(ctx, d.ShardPath(sh), meta.SeqLen, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		defer data.Release()
		r, err := data.Flatten(meta.SeqLen)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.ShardPath(sh), err)
		}
		i := int(n - sh.FirstRow)
		if i >= r.Len() {
			return nil, fmt.Errorf("%s: %d rows, the manifest says %d", d.ShardPath(sh), r.Len(), sh.Rows)
		}
		seq := meta.SeqLen
		return &Example{Row: n, Input: r.Inputs[i*seq : (i+1)*seq], Label: r.Labels[i*seq : (i+1)*seq],
			Identifier: r.Identifiers[i], Puzzle: r.Puzzles[i], Group: r.Groups[i], Set: r.Sets[i], Aug: r.Augs[i]}, nil
	}
	return nil, fmt.Errorf("%s: split %s: no shard holds row %d", d.Dir, split, n)
}
