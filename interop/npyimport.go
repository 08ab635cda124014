package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tinyrecursion/trm/dataset"
)

// NPYImportOptions configure ImportNPY. The fields other than Progress are
// those of dataset.Options for the dataset written.
type NPYImportOptions struct {
	Force       bool
	ShardBytes  int64
	Compression string
	Workers     int
	CodeVersion string
	Created     string
	// Progress, if set, is called with the number of rows written, as they
	// are written.
	Progress func(rows int)
}

// ImportReport describes what ImportNPY did.
type ImportReport struct {
	Splits []SplitReport
	// Warnings are facts worth telling that do not prevent the import, for
	// example a dataset.json whose formatting differs from the reference's
	// (the dataset keeps its content, re-rendered as the reference does).
	Warnings []string
}

// ImportNPY converts a dataset in the reference's NumPy layout (as the
// reference builders write it, or ExportNPY) at refdir into a trm dataset at
// out. Every array is validated before any row is written: dtypes (|u1 or
// <i8 tokens, <i4 indices), shapes, indices that start at 0, increase and
// end at the example and puzzle counts, identifiers below
// num_puzzle_identifiers, and agreement with dataset.json and
// identifiers.json; token values are checked against vocab_size as they
// stream. Errors name the file and what is wrong.
//
// Rows are read group by group from the open files, so memory is bounded by
// the largest group, not the split. The aug column is the part of each
// puzzle's identifiers.json name after the first "|||" (the ARC builder
// names augmented puzzles task|||tK|||perm); it is empty for Sudoku and
// Maze, whose layout does not record the transforms.
func ImportNPY(ctx context.Context, refdir, out string, opts NPYImportOptions) (*ImportReport, error) {
	names, err := readIdentifiers(filepath.Join(refdir, FileIdentifiers))
	if err != nil {
		return nil, err
	}
	splitNames, err := refSplitNames(refdir)
	if err != nil {
		return nil, err
	}
	var splits []*refSplit
	defer func() {
		for _, s := range splits {
			s.close()
		}
	}()
	for _, name := range splitNames {
		s, err := openRefSplit(filepath.Join(refdir, name), name, len(names.names))
		if err != nil {
			return nil, err
		}
		splits = append(splits, s)
	}
	testPuzzles, err := os.ReadFile(filepath.Join(refdir, FileTestPuzzles))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err == nil && !json.Valid(testPuzzles) {
		return nil, fmt.Errorf("%s: not valid JSON", filepath.Join(refdir, FileTestPuzzles))
	}

	abs, err := filepath.Abs(refdir)
	if err != nil {
		return nil, err
	}
	cfg := ImportConfig{Source: abs, Dtypes: map[string]string{}}
	for _, s := range splits {
		cfg.Dtypes[s.name] = s.dtype
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	w, err := dataset.Create(out, dataset.Options{
		Force: opts.Force, ShardBytes: opts.ShardBytes, Compression: opts.Compression, Workers: opts.Workers,
		Builder:     dataset.Builder{Name: ImportBuilder, Config: cfgJSON},
		CodeVersion: opts.CodeVersion, Created: opts.Created,
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &ImportReport{}
	for _, s := range splits {
		if err := s.write(ctx, w, names, opts.Progress); err != nil {
			return nil, err
		}
		rep.Splits = append(rep.Splits, SplitReport{Name: s.name, Rows: int64(s.rows), Dtype: s.dtype})
		if !bytes.Equal(s.meta.MarshalReference(), s.metaJSON) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is not formatted as the reference writes it; the dataset stores the same values in the reference's format",
				filepath.Join(s.dir, FileMetadata)))
		}
	}
	if err := w.WriteFile(FileIdentifiers, names.raw); err != nil {
		return nil, err
	}
	if testPuzzles != nil {
		if err := w.WriteFile(FileTestPuzzles, testPuzzles); err != nil {
			return nil, err
		}
	}
	return rep, w.Commit()
}

// identifierNames is identifiers.json: entry i names puzzle identifier i.
type identifierNames struct {
	raw   []byte
	names []string
}

func readIdentifiers(path string) (identifierNames, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return identifierNames{}, fmt.Errorf("%s: missing (every reference builder writes it): %w", path, err)
		}
		return identifierNames{}, err
	}
	names, err := parseIdentifiers(path, data)
	return identifierNames{raw: data, names: names}, err
}

// parseIdentifiers decodes identifiers.json, a JSON list of strings.
func parseIdentifiers(path string, data []byte) ([]string, error) {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: byte %d: %w", path, se.Offset, err)
		}
		return nil, fmt.Errorf("%s: want a JSON list of names: %w", path, err)
	}
	if names == nil {
		return nil, fmt.Errorf("%s: want a JSON list of names, found null", path)
	}
	return names, nil
}

// augOf is the transform recorded in a reference puzzle name: what follows
// the first "|||" ("t7|||0612397845" for "8be77c9e|||t7|||0612397845"), or ""
// for an original.
func augOf(name string) string {
	_, aug, _ := strings.Cut(name, "|||")
	return aug
}

// refSplitNames lists the sub-directories holding a dataset.json: train
// and test first, as the reference writes them, then any others by name.
func refSplitNames(refdir string) ([]string, error) {
	entries, err := os.ReadDir(refdir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(refdir, e.Name(), FileMetadata)); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no split directories (<split>/%s): not a dataset in the reference layout", refdir, FileMetadata)
	}
	rank := func(s string) int {
		switch s {
		case "train":
			return 0
		case "test":
			return 1
		}
		return 2
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return names, nil
}

// refSplit is one validated split of a reference directory, its token files
// open and positioned at their payloads.
type refSplit struct {
	name, dir      string
	meta           dataset.Metadata
	metaJSON       []byte
	inputs, labels *dataset.NPYFile
	dtype          string
	rows, seqLen   int
	identifiers    []int32
	puzzleIndices  []int32
	groupIndices   []int32
}

func (s *refSplit) close() {
	if s.inputs != nil {
		s.inputs.Close()
	}
	if s.labels != nil {
		s.labels.Close()
	}
}

// openRefSplit validates everything about a split that can be checked
// without reading the token payloads.
func openRefSplit(dir, name string, numNames int) (_ *refSplit, err error) {
	s := &refSplit{name: name, dir: dir}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	metaPath := filepath.Join(dir, FileMetadata)
	if s.metaJSON, err = os.ReadFile(metaPath); err != nil {
		return nil, err
	}
	if s.meta, err = dataset.ParseMetadata(metaPath, s.metaJSON); err != nil {
		return nil, err
	}
	path := func(field string) string { return filepath.Join(dir, npyName(field)) }
	if s.inputs, err = openTokenArray(path("inputs")); err != nil {
		return nil, err
	}
	if s.labels, err = openTokenArray(path("labels")); err != nil {
		return nil, err
	}
	in, lab := s.inputs.Header, s.labels.Header
	if in.Descr != lab.Descr || !slices.Equal(in.Shape, lab.Shape) {
		return nil, fmt.Errorf("%s: %s of shape %v, but inputs are %s of shape %v", path("labels"), lab.Descr, lab.Shape, in.Descr, in.Shape)
	}
	s.dtype = DtypeUint8
	if in.Descr == dataset.NPYInt64 {
		s.dtype = DtypeInt64
	}
	s.rows, s.seqLen = in.Shape[0], in.Shape[1]
	if s.identifiers, err = readIndexArray(path("puzzle_identifiers")); err != nil {
		return nil, err
	}
	if s.puzzleIndices, err = readIndexArray(path("puzzle_indices")); err != nil {
		return nil, err
	}
	if s.groupIndices, err = readIndexArray(path("group_indices")); err != nil {
		return nil, err
	}
	if err := checkRefIndices(dir, s.meta, s.rows, s.seqLen, s.identifiers, s.puzzleIndices, s.groupIndices); err != nil {
		return nil, err
	}
	if numNames != s.meta.NumPuzzleIdentifiers {
		return nil, fmt.Errorf("%s: num_puzzle_identifiers %d, but %s lists %d names", metaPath, s.meta.NumPuzzleIdentifiers, FileIdentifiers, numNames)
	}
	return s, nil
}

// openTokenArray opens an inputs or labels file and checks its dtype and
// rank.
func openTokenArray(path string) (*dataset.NPYFile, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: missing: %w", path, err)
	}
	nf, err := dataset.OpenNPY(path)
	if err != nil {
		return nil, err
	}
	h := nf.Header
	switch {
	case h.Descr != dataset.NPYUint8 && h.Descr != dataset.NPYInt64:
		err = fmt.Errorf("%s: dtype %s, want |u1 (uint8) or <i8 (int64)", path, h.Descr)
	case len(h.Shape) != 2:
		err = fmt.Errorf("%s: shape %v, want 2 dimensions [examples, seq_len]", path, h.Shape)
	}
	if err != nil {
		nf.Close()
		return nil, err
	}
	return nf, nil
}

// readIndexArray reads a whole 1-d int32 array.
func readIndexArray(path string) ([]int32, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: missing: %w", path, err)
	}
	h, payload, err := dataset.ReadNPY(path)
	if err != nil {
		return nil, err
	}
	if h.Descr != dataset.NPYInt32 {
		return nil, fmt.Errorf("%s: dtype %s, want <i4 (int32)", path, h.Descr)
	}
	if len(h.Shape) != 1 {
		return nil, fmt.Errorf("%s: shape %v, want 1 dimension", path, h.Shape)
	}
	vals, err := dataset.DecodeNPY[int32](h, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vals, nil
}

// checkRefIndices checks the index arrays of a split against each other,
// the token arrays' shape and dataset.json. dir names the split in errors.
func checkRefIndices(dir string, meta dataset.Metadata, rows, seqLen int, identifiers, puzzleIndices, groupIndices []int32) error {
	path := func(field string) string { return filepath.Join(dir, npyName(field)) }
	metaPath := filepath.Join(dir, FileMetadata)
	puzzles := len(identifiers)
	if len(puzzleIndices) != puzzles+1 {
		return fmt.Errorf("%s: %d entries, want %d (one more than the %d puzzle identifiers)", path("puzzle_indices"), len(puzzleIndices), puzzles+1, puzzles)
	}
	if err := checkOffsets(path("puzzle_indices"), puzzleIndices, rows, "the number of examples in all__inputs.npy"); err != nil {
		return err
	}
	if len(groupIndices) == 0 {
		return fmt.Errorf("%s: empty; want the groups' first puzzles followed by the puzzle count", path("group_indices"))
	}
	if err := checkOffsets(path("group_indices"), groupIndices, puzzles, "the number of puzzles"); err != nil {
		return err
	}
	groups := len(groupIndices) - 1
	for i, id := range identifiers {
		if id < 0 || int(id) >= meta.NumPuzzleIdentifiers {
			return fmt.Errorf("%s: entry %d: identifier %d outside 0..%d (num_puzzle_identifiers in %s is %d)",
				path("puzzle_identifiers"), i, id, meta.NumPuzzleIdentifiers-1, FileMetadata, meta.NumPuzzleIdentifiers)
		}
	}
	switch {
	case meta.SeqLen != seqLen:
		return fmt.Errorf("%s: seq_len %d, but all__inputs.npy rows have %d tokens", metaPath, meta.SeqLen, seqLen)
	case meta.TotalGroups != groups:
		return fmt.Errorf("%s: total_groups %d, but all__group_indices.npy has %d groups", metaPath, meta.TotalGroups, groups)
	// The reference's Sudoku and Maze builders store the group count as
	// total_puzzles (quirks Q-S2, Q-M2).
	case meta.TotalPuzzles != puzzles && meta.TotalPuzzles != groups:
		return fmt.Errorf("%s: total_puzzles %d, but all__puzzle_identifiers.npy has %d puzzles", metaPath, meta.TotalPuzzles, puzzles)
	case !slices.Equal(meta.Sets, []string{"all"}):
		return fmt.Errorf("%s: sets %q; the reference layout has the one set \"all\"", metaPath, meta.Sets)
	}
	if puzzles > 0 {
		mean := float64(rows) / float64(puzzles)
		if math.Abs(mean-meta.MeanPuzzleExamples) > 1e-9*mean {
			return fmt.Errorf("%s: mean_puzzle_examples %v, but there are %d examples in %d puzzles (%v)", metaPath, meta.MeanPuzzleExamples, rows, puzzles, mean)
		}
	}
	return nil
}

// checkOffsets checks an index array: it starts at 0, strictly increases
// (no empty puzzle or group) and ends at end.
func checkOffsets(path string, idx []int32, end int, endName string) error {
	if idx[0] != 0 {
		return fmt.Errorf("%s: starts at %d, want 0", path, idx[0])
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			return fmt.Errorf("%s: not strictly increasing at entry %d (%d after %d)", path, i, idx[i], idx[i-1])
		}
	}
	if last := idx[len(idx)-1]; int64(last) != int64(end) {
		return fmt.Errorf("%s: ends at %d, want %d (%s)", path, last, end, endName)
	}
	return nil
}

// write streams the split into w group by group.
func (s *refSplit) write(ctx context.Context, w *dataset.Writer, names identifierNames, progress func(int)) error {
	sw, err := w.CreateSplit(dataset.SplitSpec{Name: s.name, VocabSize: s.meta.VocabSize, GridShape: GridShapeOf(s.seqLen)})
	if err != nil {
		return err
	}
	in := tokenReader{f: s.inputs, path: filepath.Join(s.dir, npyName("inputs")), seqLen: s.seqLen, vocab: s.meta.VocabSize}
	lab := tokenReader{f: s.labels, path: filepath.Join(s.dir, npyName("labels")), seqLen: s.seqLen, vocab: s.meta.VocabSize}
	var g dataset.Group
	for gi := range len(s.groupIndices) - 1 {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.Reset()
		first, last := s.groupIndices[gi], s.groupIndices[gi+1]
		row0, row1 := int(s.puzzleIndices[first]), int(s.puzzleIndices[last])
		if g.Inputs, err = in.read(g.Inputs, row0, row1-row0); err != nil {
			return err
		}
		if g.Labels, err = lab.read(g.Labels, row0, row1-row0); err != nil {
			return err
		}
		for p := first; p < last; p++ {
			id := s.identifiers[p]
			g.AddPuzzle(int(s.puzzleIndices[p+1]-s.puzzleIndices[p]), id, augOf(names.names[id]))
		}
		if err := sw.WriteGroup(&g); err != nil {
			return err
		}
		if progress != nil {
			progress(row1 - row0)
		}
	}
	return sw.Close(s.meta)
}

// tokenReader reads consecutive rows of an inputs or labels payload as
// bytes, checking every token against the vocabulary.
type tokenReader struct {
	f       *dataset.NPYFile
	path    string
	seqLen  int
	vocab   int
	scratch []byte
}

// read appends rows rows, starting at row first, to dst.
func (t *tokenReader) read(dst []byte, first, rows int) ([]byte, error) {
	n := rows * t.seqLen
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	if t.f.Header.Descr == dataset.NPYUint8 {
		if _, err := io.ReadFull(t.f, out); err != nil {
			return dst, fmt.Errorf("%s: %w", t.path, err)
		}
		if i := firstTokenOutside(out, t.vocab); i >= 0 {
			return dst, t.tokenError(first, i, int64(out[i]))
		}
		return dst, nil
	}
	if cap(t.scratch) < 8*n {
		t.scratch = make([]byte, 8*n)
	}
	buf := t.scratch[:8*n]
	if _, err := io.ReadFull(t.f, buf); err != nil {
		return dst, fmt.Errorf("%s: %w", t.path, err)
	}
	for i := range out {
		v := int64(binary.LittleEndian.Uint64(buf[8*i:]))
		if v < 0 || v >= int64(t.vocab) {
			return dst, t.tokenError(first, i, v)
		}
		out[i] = byte(v)
	}
	return dst, nil
}

func (t *tokenReader) tokenError(firstRow, i int, v int64) error {
	return fmt.Errorf("%s: row %d position %d: token %d outside 0..%d (vocab_size %d in %s)",
		t.path, firstRow+i/t.seqLen, i%t.seqLen, v, t.vocab-1, t.vocab, FileMetadata)
}

// firstTokenOutside returns the index of the first byte >= vocab, or -1.
func firstTokenOutside(tokens []byte, vocab int) int {
	if vocab >= 256 {
		return -1
	}
	for i, t := range tokens {
		if int(t) >= vocab {
			return i
		}
	}
	return -1
}

// GridShapeOf is the grid shape ImportNPY gives a sequence length, which the
// reference layout does not record: 30x30 for ARC and Maze (900), 9x9 for
// Sudoku (81), the side for other squares, and 1 x seqLen otherwise.
func GridShapeOf(seqLen int) [2]int {
	side := int(math.Sqrt(float64(seqLen)))
	for side*side > seqLen {
		side--
	}
	for (side+1)*(side+1) <= seqLen {
		side++
	}
	if side*side == seqLen {
		return [2]int{side, side}
	}
	return [2]int{1, seqLen}
}
