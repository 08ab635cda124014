package interop

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// Element types ExportNPY can write inputs and labels as.
const (
	DtypeAuto  = "auto"  // what the reference builder of the dataset writes
	DtypeUint8 = "uint8" // |u1
	DtypeInt64 = "int64" // <i8
)

// Names of the files of the reference layout.
const (
	FileIdentifiers = "identifiers.json"
	FileTestPuzzles = "test_puzzles.json"
	FileMetadata    = "dataset.json"
)

// npyFields are the arrays of a split in the reference layout; each is
// stored as <split>/all__<field>.npy ("all" is the only set any reference
// builder writes).
var npyFields = []string{"inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"}

func npyName(field string) string { return "all__" + field + ".npy" }

// NPYExportOptions configure ExportNPY.
type NPYExportOptions struct {
	// Dtype of inputs and labels: DtypeAuto (also ""), DtypeUint8 or
	// DtypeInt64. Auto reproduces the reference, which stores them as uint8
	// except in an augmented Sudoku train split, where they are int64
	// (spec/reference-data.md quirk Q-S3).
	Dtype string
	// Force replaces an existing output directory, provided it holds
	// nothing but files of this layout.
	Force bool
	// Progress, if set, is called with the number of rows written, as they
	// are written.
	Progress func(rows int)
}

// SplitReport describes one exported or imported split.
type SplitReport struct {
	Name  string
	Rows  int64
	Dtype string // of inputs and labels
}

// ExportNPY writes ds in the reference's NumPy layout at out:
// out/<split>/all__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy,
// out/<split>/dataset.json (the dataset's own file, byte for byte), and
// identifiers.json and test_puzzles.json when the dataset has them. Shards
// are streamed in record batches of a few thousand rows: memory does not
// grow with the split.
func ExportNPY(ctx context.Context, ds *dataset.Dataset, out string, opts NPYExportOptions) (_ []SplitReport, err error) {
	switch opts.Dtype {
	case "", DtypeAuto, DtypeUint8, DtypeInt64:
	default:
		return nil, fmt.Errorf("dtype %q: use auto, uint8 or int64", opts.Dtype)
	}
	st, err := stage(out, opts.Force, ownedNPYExport)
	if err != nil {
		return nil, err
	}
	defer st.Abort()
	defer func() { err = st.explain(err) }()
	var reports []SplitReport
	for i := range ds.Manifest.Splits {
		split := &ds.Manifest.Splits[i]
		dtype, err := tokenDtype(ctx, ds, split, opts.Dtype)
		if err != nil {
			return nil, err
		}
		if err := exportSplitNPY(ctx, ds, split, dtype, st, opts.Progress); err != nil {
			return nil, err
		}
		reports = append(reports, SplitReport{Name: split.Name, Rows: split.Rows, Dtype: dtype})
	}
	for _, name := range []string{FileIdentifiers, FileTestPuzzles} {
		if err := copyIfPresent(filepath.Join(ds.Dir, name), st.path(name)); err != nil {
			return nil, err
		}
	}
	return reports, st.Commit(ctx)
}

// ownedNPYExport accepts a directory that holds only what ExportNPY writes.
func ownedNPYExport(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch {
		case !e.IsDir() && (e.Name() == FileIdentifiers || e.Name() == FileTestPuzzles):
		case e.IsDir():
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			for _, f := range sub {
				if f.IsDir() || f.Name() != FileMetadata && !(strings.HasPrefix(f.Name(), "all__") && strings.HasSuffix(f.Name(), ".npy")) {
					return fmt.Errorf("holds %s, which is not part of a NumPy export", filepath.Join(e.Name(), f.Name()))
				}
			}
		default:
			return fmt.Errorf("holds %s, which is not part of a NumPy export", e.Name())
		}
	}
	return nil
}

// ImportConfig is the builder configuration ImportNPY records in the
// manifest (builder name "import").
type ImportConfig struct {
	Source string `json:"source"` // the reference directory, absolute
	// Dtypes maps each split to the element type its inputs and labels had
	// in the source, so that ExportNPY's auto dtype writes them back alike.
	Dtypes map[string]string `json:"dtypes"`
}

// ImportBuilder is the builder name ImportNPY records.
const ImportBuilder = "import"

// tokenDtype resolves the element type of a split's inputs and labels.
func tokenDtype(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest, want string) (string, error) {
	if want == DtypeUint8 || want == DtypeInt64 {
		return want, nil
	}
	switch ds.Manifest.Builder.Name {
	case ImportBuilder:
		var cfg ImportConfig
		if err := json.Unmarshal(ds.Manifest.Builder.Config, &cfg); err != nil {
			return "", fmt.Errorf("%s: manifest builder config: %w", ds.Dir, err)
		}
		switch d := cfg.Dtypes[split.Name]; d {
		case "":
			return DtypeUint8, nil
		case DtypeUint8, DtypeInt64:
			return d, nil
		default:
			return "", fmt.Errorf("%s: manifest builder config: split %s has dtype %q", ds.Dir, split.Name, d)
		}
	case "sudoku":
		// The reference concatenates its uint8 originals with int64
		// shuffles, so numpy promotes the whole split to int64 as soon as
		// one augmented row is present (quirk Q-S3).
		aug, err := splitHasAug(ctx, ds, split)
		if err != nil || !aug {
			return DtypeUint8, err
		}
		return DtypeInt64, nil
	}
	return DtypeUint8, nil
}

// npyIndex accumulates the index arrays of a split while its rows stream
// by, checking that puzzles and groups are numbered contiguously.
type npyIndex struct {
	identifiers    []int32 // per puzzle
	puzzleIndices  []int32 // first row of each puzzle, then the row count
	groupIndices   []int32 // first puzzle of each group, then the puzzle count
	rows           int64
	puzzle, group  int32 // of the previous row
	identifierLast int32
}

func (x *npyIndex) add(path string, ids, puzzles, groups []int32) error {
	for i := range puzzles {
		p, g, id, row := puzzles[i], groups[i], ids[i], x.rows
		newPuzzle := x.rows == 0 || p != x.puzzle
		newGroup := x.rows == 0 || g != x.group
		switch {
		case newPuzzle && p != int32(len(x.identifiers)):
			return fmt.Errorf("%s: split row %d: puzzle %d follows puzzle %d (puzzles must be numbered 0, 1, 2 ... in row order)", path, row, p, x.puzzle)
		case newGroup && g != int32(len(x.groupIndices)):
			return fmt.Errorf("%s: split row %d: group %d follows group %d (groups must be numbered 0, 1, 2 ... in row order)", path, row, g, x.group)
		case newGroup && !newPuzzle:
			return fmt.Errorf("%s: split row %d: puzzle %d spans groups %d and %d", path, row, p, x.group, g)
		case !newPuzzle && id != x.identifierLast:
			return fmt.Errorf("%s: split row %d: puzzle %d has identifiers %d and %d", path, row, p, x.identifierLast, id)
		}
		if newGroup {
			x.groupIndices = append(x.groupIndices, int32(len(x.identifiers)))
		}
		if newPuzzle {
			x.puzzleIndices = append(x.puzzleIndices, int32(x.rows))
			x.identifiers = append(x.identifiers, id)
		}
		x.puzzle, x.group, x.identifierLast = p, g, id
		x.rows++
	}
	return nil
}

// finish closes both index arrays with their totals.
func (x *npyIndex) finish() {
	x.puzzleIndices = append(x.puzzleIndices, int32(x.rows))
	x.groupIndices = append(x.groupIndices, int32(len(x.identifiers)))
}

func exportSplitNPY(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest, dtype string, st *staging, progress func(int)) error {
	meta := ds.Meta[split.Name]
	seqLen := meta.SeqLen
	if split.Rows > 1<<31-1 || split.Puzzles > 1<<31-1 {
		return fmt.Errorf("split %s: %d rows and %d puzzles do not fit the reference's int32 indices", split.Name, split.Rows, split.Puzzles)
	}
	if err := os.Mkdir(st.path(split.Name), 0o755); err != nil {
		return err
	}
	descr := dataset.NPYUint8
	if dtype == DtypeInt64 {
		descr = dataset.NPYInt64
	}
	shape := []int{int(split.Rows), seqLen}
	var tokens [2]*tokenFile
	for i, field := range npyFields[:2] {
		tf, err := createTokenFile(st.path(split.Name, npyName(field)), dataset.NPYHeader{Descr: descr, Shape: shape})
		if err != nil {
			return err
		}
		defer tf.out.Close()
		tokens[i] = tf
	}
	var idx npyIndex
	err := eachBatch(ctx, ds, split, seqLen, func(b shardBatch) error {
		inputs, labels, ids, puzzles, groups, err := batchColumns(b)
		if err != nil {
			return err
		}
		if err := idx.add(b.path, ids, puzzles, groups); err != nil {
			return err
		}
		if err := tokens[0].write(inputs); err != nil {
			return err
		}
		if err := tokens[1].write(labels); err != nil {
			return err
		}
		if progress != nil {
			progress(len(puzzles))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, tf := range tokens {
		if err := tf.finish(); err != nil {
			return err
		}
	}
	idx.finish()
	if int64(len(idx.identifiers)) != split.Puzzles || int64(len(idx.groupIndices)-1) != split.Groups {
		return fmt.Errorf("%s: split %s has %d puzzles in %d groups, the manifest says %d in %d",
			ds.Dir, split.Name, len(idx.identifiers), len(idx.groupIndices)-1, split.Puzzles, split.Groups)
	}
	for i, vals := range [][]int32{idx.identifiers, idx.puzzleIndices, idx.groupIndices} {
		if err := writeNPYSync(st.path(split.Name, npyName(npyFields[2+i])), vals); err != nil {
			return err
		}
	}
	return copyIfPresent(filepath.Join(ds.Dir, split.Name, FileMetadata), st.path(split.Name, FileMetadata))
}

// batchColumns returns the token bytes of inputs and labels and the three
// index columns of a batch.
func batchColumns(b shardBatch) (inputs, labels []byte, ids, puzzles, groups []int32, err error) {
	cols := b.rec.Columns()
	in, ok1 := cols[0].(*array.FixedSizeBinary)
	lab, ok2 := cols[1].(*array.FixedSizeBinary)
	id, ok3 := cols[2].(*array.Int32)
	puz, ok4 := cols[3].(*array.Int32)
	grp, ok5 := cols[4].(*array.Int32)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return nil, nil, nil, nil, nil, fmt.Errorf("%s: unexpected column types", b.path)
	}
	for i, c := range cols[:5] {
		if c.NullN() > 0 {
			return nil, nil, nil, nil, nil, fmt.Errorf("%s: column %s has nulls", b.path, b.rec.ColumnName(i))
		}
	}
	return dataset.FixedSizeBytes(in), dataset.FixedSizeBytes(lab), id.Int32Values(), puz.Int32Values(), grp.Int32Values(), nil
}

// tokenFile streams an inputs or labels array, widening bytes to int64 if
// its header says so.
type tokenFile struct {
	out     *outFile
	npy     *dataset.NPYWriter
	widen   bool
	scratch []byte
}

func createTokenFile(path string, h dataset.NPYHeader) (*tokenFile, error) {
	out, err := createOutFile(path)
	if err != nil {
		return nil, err
	}
	nw, err := dataset.NewNPYWriter(out, h)
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &tokenFile{out: out, npy: nw, widen: h.Descr == dataset.NPYInt64}, nil
}

func (t *tokenFile) write(tokens []byte) error {
	if !t.widen {
		if _, err := t.npy.Write(tokens); err != nil {
			return fmt.Errorf("%s: %w", t.out.path, err)
		}
		return nil
	}
	const chunk = 1 << 14
	if t.scratch == nil {
		t.scratch = make([]byte, 8*chunk)
	}
	for len(tokens) > 0 {
		n := min(chunk, len(tokens))
		buf := t.scratch[:8*n]
		for i, b := range tokens[:n] {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(b))
		}
		if _, err := t.npy.Write(buf); err != nil {
			return fmt.Errorf("%s: %w", t.out.path, err)
		}
		tokens = tokens[n:]
	}
	return nil
}

func (t *tokenFile) finish() error {
	if err := t.npy.Close(); err != nil {
		return fmt.Errorf("%s: %w", t.out.path, err)
	}
	return t.out.Finish()
}

// writeNPYSync writes a small int32 array as np.save does and syncs it.
func writeNPYSync(path string, vals []int32) error {
	out, err := createOutFile(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := dataset.WriteNPY(out, []int{len(vals)}, vals); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Finish()
}

// copyIfPresent copies a small file verbatim, if it exists.
func copyIfPresent(src, dst string) error {
	data, err := os.ReadFile(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return atomicdir.WriteFile(dst, data)
}
