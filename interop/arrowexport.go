package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tinyrecursion/trm/dataset"
)

// ArrowExportOptions configure ExportArrow.
type ArrowExportOptions struct {
	// Force replaces an existing output directory, provided it holds
	// nothing but .arrow files.
	Force bool
	// Progress, if set, is called with the number of rows written, as they
	// are written.
	Progress func(rows int)
}

// ArrowSchema is the schema of the Arrow IPC files ExportArrow writes for
// a split with the given grid shape: the dataset's columns, with inputs and
// labels as arrow.fixed_shape_tensor over fixed_size_list<uint8>[H*W]
// instead of fixed-size binary. The schema metadata carries the split's
// dataset.json and grid shape under the same keys as the Parquet shards.
func ArrowSchema(shape [2]int, meta map[string]string) (*arrow.Schema, error) {
	tensor, err := NewFixedShapeTensorType(arrow.PrimitiveTypes.Uint8, shape[:])
	if err != nil {
		return nil, err
	}
	base := dataset.Schema(shape[0] * shape[1])
	fields := base.Fields()
	fields[0].Type, fields[1].Type = tensor, tensor
	keys := make([]string, 0, len(meta))
	vals := make([]string, 0, len(meta))
	for _, k := range []string{dataset.KeyFormat, dataset.KeySplit, dataset.KeyGridShape, dataset.KeyMetadata} {
		if v, ok := meta[k]; ok {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &md), nil
}

// ExportArrow writes every split of ds as one Arrow IPC file,
// out/<split>.arrow, uncompressed so that readers can memory-map it, in
// record batches of up to 4096 rows (the export streams: memory does not
// grow with the split). In Python:
//
//	import pyarrow as pa
//	r = pa.ipc.open_file(pa.memory_map("out/train.arrow"))
//	x = r.get_batch(0).column("inputs").to_numpy_ndarray()  # [rows, H, W] uint8, no copy
//	t = r.read_all()  # the whole split; combine_chunks() copies once
//	x = t.column("inputs").combine_chunks().to_numpy_ndarray()
func ExportArrow(ctx context.Context, ds *dataset.Dataset, out string, opts ArrowExportOptions) (_ []SplitReport, err error) {
	st, err := stage(out, opts.Force, ownedArrowExport)
	if err != nil {
		return nil, err
	}
	defer st.Abort()
	defer func() { err = st.explain(err) }()
	var reports []SplitReport
	for i := range ds.Manifest.Splits {
		split := &ds.Manifest.Splits[i]
		if err := exportSplitArrow(ctx, ds, split, st.path(split.Name+".arrow"), opts.Progress); err != nil {
			return nil, err
		}
		reports = append(reports, SplitReport{Name: split.Name, Rows: split.Rows, Dtype: DtypeUint8})
	}
	return reports, st.Commit(ctx)
}

// ownedArrowExport accepts a directory that holds only .arrow files.
func ownedArrowExport(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".arrow") {
			return fmt.Errorf("holds %s, which is not part of an Arrow export", e.Name())
		}
	}
	return nil
}

func exportSplitArrow(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest, path string, progress func(int)) error {
	meta := ds.Meta[split.Name]
	shape, _ := json.Marshal(split.GridShape)
	schema, err := ArrowSchema(split.GridShape, map[string]string{
		dataset.KeyFormat:    fmt.Sprintf("%s/%d", dataset.FormatName, dataset.FormatVersion),
		dataset.KeySplit:     split.Name,
		dataset.KeyGridShape: string(shape),
		dataset.KeyMetadata:  string(meta.MarshalReference()),
	})
	if err != nil {
		return err
	}
	tensor := schema.Field(0).Type.(*FixedShapeTensorType)
	out, err := createOutFile(path)
	if err != nil {
		return err
	}
	defer out.Close()
	fw, err := ipc.NewFileWriter(out, ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	err = eachBatch(ctx, ds, split, meta.SeqLen, func(b shardBatch) error {
		rec, err := tensorRecord(schema, tensor, b.rec)
		if err != nil {
			return fmt.Errorf("%s: %w", b.path, err)
		}
		err = fw.Write(rec)
		n := int(rec.NumRows())
		rec.Release()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if progress != nil {
			progress(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Finish()
}

// tensorRecord converts a record of the dataset schema to the export
// schema: the token columns become tensors whose storage child is a
// zero-offset view of the fixed-size binary's contiguous bytes (no Arrow
// slicing, see DESIGN.md), the other columns are shared.
func tensorRecord(schema *arrow.Schema, tensor *FixedShapeTensorType, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		if i >= 2 {
			c.Retain()
			cols[i] = c
			continue
		}
		fsb, ok := c.(*array.FixedSizeBinary)
		if !ok || fsb.NullN() > 0 {
			return nil, fmt.Errorf("column %s: want fixed-size binary without nulls, have %s", rec.ColumnName(i), c.DataType())
		}
		cols[i] = tensorArray(tensor, dataset.FixedSizeBytes(fsb), fsb.Len())
	}
	return array.NewRecordBatch(schema, cols, rec.NumRows()), nil
}

// tensorArray wraps rows*size contiguous bytes as a tensor array without
// copying them.
func tensorArray(tensor *FixedShapeTensorType, values []byte, rows int) arrow.Array {
	fsl := tensor.StorageType().(*arrow.FixedSizeListType)
	child := array.NewData(fsl.Elem(), len(values), []*memory.Buffer{nil, memory.NewBufferBytes(values)}, nil, 0, 0)
	defer child.Release()
	data := array.NewData(fsl, rows, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	defer data.Release()
	storage := array.MakeFromData(data)
	defer storage.Release()
	return array.NewExtensionArrayWithStorage(tensor, storage)
}
