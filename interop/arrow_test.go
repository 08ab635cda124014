package interop

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tinyrecursion/trm/dataset"
)

// TestExportArrowRoundTrip reads every exported IPC file back with
// arrow-go's reader (the extension type registered by this package) and
// compares the extension type, its metadata, the schema metadata and every
// value with the Parquet rows.
func TestExportArrowRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		td   testDataset
	}{{"arc", arcLike(5, 3, 11)}, {"sudoku", sudokuLike(20, 2, 5, 11)}} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ds := tc.td.write(t, filepath.Join(tmp, "ds"))
			out := filepath.Join(tmp, "arrow")
			var progress int
			if _, err := ExportArrow(context.Background(), ds, out, ArrowExportOptions{Progress: func(n int) { progress += n }}); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, s := range ds.Manifest.Splits {
				total += int(s.Rows)
				checkArrowSplit(t, ds, s, filepath.Join(out, s.Name+".arrow"))
			}
			if progress != total {
				t.Errorf("progress counted %d rows, want %d", progress, total)
			}
		})
	}
}

func checkArrowSplit(t *testing.T, ds *dataset.Dataset, s dataset.SplitManifest, path string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	schema := r.Schema()
	shape := s.GridShape
	for _, col := range []int{0, 1} {
		field := schema.Field(col)
		tt, ok := field.Type.(*FixedShapeTensorType)
		if !ok {
			t.Fatalf("%s: column %s has type %s, want %s", path, field.Name, field.Type, FixedShapeTensorName)
		}
		if !slices.Equal(tt.Shape, shape[:]) || tt.Serialize() != `{"shape":[`+itoa(shape[0])+`,`+itoa(shape[1])+`]}` {
			t.Errorf("%s: column %s: shape %v, metadata %s", path, field.Name, tt.Shape, tt.Serialize())
		}
		want := arrow.FixedSizeListOf(int32(shape[0]*shape[1]), arrow.PrimitiveTypes.Uint8)
		if !arrow.TypeEqual(tt.StorageType(), want) {
			t.Errorf("%s: storage %s, want %s", path, tt.StorageType(), want)
		}
	}
	meta := ds.Meta[s.Name]
	gotMeta, _ := schema.Metadata().GetValue(dataset.KeyMetadata)
	gotShape, _ := schema.Metadata().GetValue(dataset.KeyGridShape)
	wantShape, _ := json.Marshal(shape)
	if gotMeta != string(meta.MarshalReference()) || gotShape != string(wantShape) {
		t.Errorf("%s: schema metadata %q, %q", path, gotMeta, gotShape)
	}

	var got dataset.Rows
	batches := 0
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		for c, col := range rec.Columns() {
			switch a := col.(type) {
			case *FixedShapeTensorArray:
				fsl := a.Storage().(*array.FixedSizeList)
				vals := fsl.ListValues().(*array.Uint8).Uint8Values()
				n := shape[0] * shape[1]
				vals = vals[fsl.Offset()*n : (fsl.Offset()+fsl.Len())*n]
				if c == 0 {
					got.Inputs = append(got.Inputs, vals...)
				} else {
					got.Labels = append(got.Labels, vals...)
				}
			case *array.Int32:
				dst := []*[]int32{&got.Identifiers, &got.Puzzles, &got.Groups}[c-2]
				*dst = append(*dst, a.Int32Values()...)
			case *array.String:
				for j := range a.Len() {
					if c == 5 {
						got.Sets = append(got.Sets, a.Value(j))
					} else {
						got.Augs = append(got.Augs, a.Value(j))
					}
				}
			default:
				t.Fatalf("%s: column %d has array type %T", path, c, col)
			}
		}
	}
	if len(s.Shards) > 1 && batches < len(s.Shards) {
		t.Errorf("%s: %d record batches for %d shards", path, batches, len(s.Shards))
	}
	want := splitRows(t, ds, s.Name)
	if !slices.Equal(got.Inputs, want.Inputs) || !slices.Equal(got.Labels, want.Labels) {
		t.Errorf("%s: tokens differ from the Parquet rows", path)
	}
	if !slices.Equal(got.Identifiers, want.Identifiers) || !slices.Equal(got.Puzzles, want.Puzzles) || !slices.Equal(got.Groups, want.Groups) ||
		!slices.Equal(got.Sets, want.Sets) || !slices.Equal(got.Augs, want.Augs) {
		t.Errorf("%s: columns differ from the Parquet rows", path)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestFixedShapeTensorType(t *testing.T) {
	typ, err := NewFixedShapeTensorType(arrow.PrimitiveTypes.Uint8, []int{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if typ.Serialize() != `{"shape":[3,4]}` || typ.ExtensionName() != "arrow.fixed_shape_tensor" {
		t.Fatalf("serialized %s as %s", typ.ExtensionName(), typ.Serialize())
	}
	back, err := typ.Deserialize(typ.StorageType(), typ.Serialize())
	if err != nil || !back.ExtensionEquals(typ) || !arrow.TypeEqual(back, typ) {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	full, err := typ.Deserialize(typ.StorageType(), `{"shape":[3,4],"dim_names":["H","W"],"permutation":[1,0]}`)
	if err != nil {
		t.Fatal(err)
	}
	if full.ExtensionEquals(typ) || full.Serialize() != `{"shape":[3,4],"dim_names":["H","W"],"permutation":[1,0]}` {
		t.Errorf("dim_names/permutation: %s", full.Serialize())
	}
	for _, bad := range []struct {
		storage arrow.DataType
		meta    string
	}{
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `{"shape":[3,5]}`},
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `{}`},
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `{"shape":[3,4],"permutation":[0,0]}`},
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `{"shape":[3,4],"dim_names":["H"]}`},
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `{"shape":[-3,-4]}`},
		{arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Uint8), `not json`},
		{arrow.ListOf(arrow.PrimitiveTypes.Uint8), `{"shape":[3,4]}`},
	} {
		if _, err := typ.Deserialize(bad.storage, bad.meta); err == nil {
			t.Errorf("Deserialize(%s, %s) accepted", bad.storage, bad.meta)
		}
	}
	if arrow.GetExtensionType(FixedShapeTensorName) == nil {
		t.Error("extension type not registered")
	}
}

// TestArrowExtensionOnWire reads an export without the extension type
// registered, which is what a reader that knows nothing of trm sees: the
// fields carry the canonical ARROW:extension:name and
// ARROW:extension:metadata keys over fixed_size_list<uint8> storage.
func TestArrowExtensionOnWire(t *testing.T) {
	tmp := t.TempDir()
	ds := arcLike(2, 1, 13).write(t, filepath.Join(tmp, "ds"))
	out := filepath.Join(tmp, "arrow")
	if _, err := ExportArrow(context.Background(), ds, out, ArrowExportOptions{}); err != nil {
		t.Fatal(err)
	}
	registered := arrow.GetExtensionType(FixedShapeTensorName)
	if err := arrow.UnregisterExtensionType(FixedShapeTensorName); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := arrow.RegisterExtensionType(registered); err != nil {
			t.Fatal(err)
		}
	}()
	f, err := os.Open(filepath.Join(out, "train.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, field := range r.Schema().Fields()[:2] {
		name, _ := field.Metadata.GetValue("ARROW:extension:name")
		meta, _ := field.Metadata.GetValue("ARROW:extension:metadata")
		if name != "arrow.fixed_shape_tensor" || meta != `{"shape":[30,30]}` {
			t.Errorf("field %s: extension name %q, metadata %q", field.Name, name, meta)
		}
		if !arrow.TypeEqual(field.Type, arrow.FixedSizeListOf(900, arrow.PrimitiveTypes.Uint8)) {
			t.Errorf("field %s: storage %s", field.Name, field.Type)
		}
	}
}
