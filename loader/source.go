package loader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/tinyrecursion/trm/dataset"
	"golang.org/x/sync/errgroup"
)

// Storage selects how shards are brought into memory.
type Storage int

const (
	// Parquet decodes the shards with pqarrow into Arrow buffers, after
	// checking each file's size and sha256 against the manifest.
	Parquet Storage = iota
	// Cache memory-maps the uncompressed Arrow IPC cache without copying,
	// first (re)building the cache files that are missing or were built
	// from other shard contents than the manifest lists.
	Cache
)

func (s Storage) String() string {
	switch s {
	case Parquet:
		return "parquet"
	case Cache:
		return "cache"
	}
	return "storage(" + strconv.Itoa(int(s)) + ")"
}

// OpenOptions configure Open.
type OpenOptions struct {
	Storage Storage
	// CacheDir holds the IPC cache of every dataset opened ("" puts it in
	// each dataset's own DefaultCacheDir). Only one dataset may be opened
	// with an explicit CacheDir.
	CacheDir string
	// ShardLocal makes this process read only the shards i of each dataset
	// with i % WorldSize == Rank (for data too large for every host);
	// otherwise every shard is read.
	ShardLocal      bool
	Rank, WorldSize int
	// Workers is the number of shards decoded or mapped at once (0:
	// GOMAXPROCS); pqarrow decodes the columns of each shard in parallel too.
	Workers int
	// Mem allocates the decoded Arrow buffers (nil: the Go heap).
	Mem memory.Allocator
}

// Source is a split of one or several datasets, in memory, with the
// reference's merged metadata and its sets in iteration order.
type Source struct {
	Split string
	// Meta is the merged dataset.json (spec/reference-loader-eval.md 1.2).
	Meta  dataset.Metadata
	Parts []*Part
	// Bytes is the size of the Parquet shards read (or of those the cache
	// was built from).
	Bytes int64

	shardLocal      bool
	rank, worldSize int
	stores          []*store
	unmap           []func() error
}

// Part is one set of one dataset: the unit the reference iterates over
// (its keys "all", "all1", ...). Index arrays are relative to the part.
type Part struct {
	Name    string // set name, with the dataset's position appended after the first
	Dataset int    // index into the paths given to Open

	// PuzzleIndices[p]..PuzzleIndices[p+1]-1 are the examples of puzzle p;
	// GroupIndices[g]..GroupIndices[g+1]-1 the puzzles of group g.
	PuzzleIndices     []int64
	GroupIndices      []int64
	PuzzleIdentifiers []int32

	store *store
	base  int64 // first row of the part in its store

	// groups summarises each group in one place for the training sampler,
	// which visits them in random order: one cache line per drawn row.
	// It is nil when even describes every group.
	groups []groupInfo
	// even is the shape every group shares, when they do (Sudoku and Maze:
	// 1+aug puzzles of one example): the sampler then computes a group's
	// summary instead of reading it, a cache miss per row once the
	// summaries outgrow the caches the gatherers are filling.
	even struct {
		puzzles uint32
		size    int32
	}

	// rowPuzzle[e] is the puzzle of example e, built on the shuffle
	// sampler's first use (see rowPuzzles).
	rowPuzzleOnce sync.Once
	rowPuzzle     []int32

	// rankRows etc. are every rank's example, puzzle and group counts in
	// shard-local mode (from the manifest); nil otherwise.
	rankRows, rankPuzzles, rankGroups []int64
}

// Rows is the number of examples.
func (p *Part) Rows() int64 { return p.PuzzleIndices[len(p.PuzzleIndices)-1] }

// Groups is the number of groups.
func (p *Part) Groups() int { return len(p.GroupIndices) - 1 }

// puzzleOf returns the puzzle containing example i.
func (p *Part) puzzleOf(i int64) int {
	lo, hi := 0, len(p.PuzzleIndices)-1
	for lo+1 < hi { // invariant: PuzzleIndices[lo] <= i < PuzzleIndices[hi]
		mid := (lo + hi) / 2
		if p.PuzzleIndices[mid] <= i {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// groupInfo is what the training sampler needs of a group.
type groupInfo struct {
	firstPuzzle int64
	firstRow    int64  // the first example of the first puzzle
	puzzles     uint32 // puzzles in the group
	// size is the example count all the group's puzzles share, or 0 when
	// they differ: the sampler then locates a drawn puzzle without a
	// random read of PuzzleIndices.
	size int32
}

// rowPuzzles returns the puzzle of every example, building the table on
// first use: the shuffle sampler draws examples in random order, and a
// binary search of PuzzleIndices per row cost it 200 us a Sudoku batch.
// Four bytes a row, only for loaders that shuffle.
func (p *Part) rowPuzzles() []int32 {
	p.rowPuzzleOnce.Do(func() {
		rows := make([]int32, p.Rows())
		for q := range len(p.PuzzleIndices) - 1 {
			for e := p.PuzzleIndices[q]; e < p.PuzzleIndices[q+1]; e++ {
				rows[e] = int32(q)
			}
		}
		p.rowPuzzle = rows
	})
	return p.rowPuzzle
}

// summarizeGroups fills groups, or even when all groups are alike.
func (p *Part) summarizeGroups() {
	groups := make([]groupInfo, p.Groups())
	alike := len(groups) > 0
	for i := range groups {
		lo, hi := p.GroupIndices[i], p.GroupIndices[i+1]
		k := p.PuzzleIndices[lo+1] - p.PuzzleIndices[lo]
		for q := lo + 1; q < hi && k > 0; q++ {
			if p.PuzzleIndices[q+1]-p.PuzzleIndices[q] != k {
				k = 0
			}
		}
		groups[i] = groupInfo{firstPuzzle: lo, firstRow: p.PuzzleIndices[lo], puzzles: uint32(hi - lo), size: int32(k)}
		g0 := groups[0]
		alike = alike && k > 0 && groups[i].puzzles == g0.puzzles && groups[i].size == g0.size &&
			lo == int64(i)*int64(g0.puzzles) && groups[i].firstRow == lo*k
	}
	if alike {
		p.even.puzzles, p.even.size = groups[0].puzzles, groups[0].size
		return
	}
	p.groups = groups
}

// group returns the summary of group g.
func (p *Part) group(g int) groupInfo {
	if e := p.even; e.puzzles > 0 {
		first := int64(g) * int64(e.puzzles)
		return groupInfo{firstPuzzle: first, firstRow: first * int64(e.size), puzzles: e.puzzles, size: e.size}
	}
	return p.groups[g]
}

// Open reads split of every dataset in paths into memory. With several
// paths the metadata are merged as the reference merges them: the shared
// fields must agree, counts are summed (quirk Q-L4: identifiers are not
// offset, so the datasets must use disjoint identifier ranges).
func Open(ctx context.Context, paths []string, split string, opts OpenOptions) (*Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("loader: no dataset given")
	}
	if opts.WorldSize == 0 {
		opts.WorldSize = 1
	}
	if opts.Rank < 0 || opts.Rank >= opts.WorldSize {
		return nil, fmt.Errorf("loader: rank %d outside world size %d", opts.Rank, opts.WorldSize)
	}
	if opts.CacheDir != "" && len(paths) > 1 {
		return nil, errors.New("loader: an explicit cache directory serves one dataset only")
	}
	if opts.Mem == nil {
		opts.Mem = memory.NewGoAllocator()
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	src := &Source{Split: split, shardLocal: opts.ShardLocal, rank: opts.Rank, worldSize: opts.WorldSize}
	var metas []dataset.Metadata
	var dss []*dataset.Dataset
	var splits []*dataset.SplitManifest
	for _, p := range paths {
		ds, err := dataset.Open(p)
		if err != nil {
			return nil, err
		}
		sm, meta, err := ds.Split(split)
		if err != nil {
			return nil, err
		}
		dss, splits, metas = append(dss, ds), append(splits, sm), append(metas, meta)
	}
	merged, err := mergeMetadata(paths, split, metas)
	if err != nil {
		return nil, err
	}
	src.Meta = merged
	if opts.ShardLocal && len(merged.Sets) != 1 {
		return nil, fmt.Errorf("loader: shard-local mode needs one set per split; %s has sets %v", split, merged.Sets)
	}
	ok := false
	defer func() {
		if !ok {
			src.Close()
		}
	}()
	var parts [][]*Part // [dataset][set]
	for i, ds := range dss {
		st, err := src.load(ctx, ds, splits[i], metas[i], opts)
		if err != nil {
			return nil, err
		}
		ps, err := buildParts(st, metas[i], i, fmt.Sprintf("%s split %s", ds.Dir, split))
		if err != nil {
			return nil, err
		}
		if opts.ShardLocal {
			rows, puzzles, groups := rankCounts(splits[i], opts.WorldSize)
			ps[0].rankRows, ps[0].rankPuzzles, ps[0].rankGroups = rows, puzzles, groups
		}
		parts = append(parts, ps)
	}
	for s := range merged.Sets {
		for i := range dss {
			src.Parts = append(src.Parts, parts[i][s])
		}
	}
	ok = true
	return src, nil
}

// Close releases the Arrow memory and unmaps the cache files. Close the
// Loaders reading from s first; batches already returned stay valid (they
// are copies).
func (s *Source) Close() error {
	for _, st := range s.stores {
		st.release()
	}
	s.stores = nil
	var errs []error
	for _, u := range s.unmap {
		errs = append(errs, u())
	}
	s.unmap = nil
	return errors.Join(errs...)
}

// ShardLocal reports whether the source holds only this rank's shards, and
// which rank of how many.
func (s *Source) ShardLocal() (local bool, rank, worldSize int) {
	return s.shardLocal, s.rank, s.worldSize
}

// mergeMetadata implements the reference's metadata merging.
func mergeMetadata(paths []string, split string, metas []dataset.Metadata) (dataset.Metadata, error) {
	m := metas[0]
	m.Sets = slices.Clone(m.Sets)
	if len(metas) == 1 {
		return m, nil
	}
	sumMean := m.MeanPuzzleExamples * float64(m.TotalPuzzles)
	for i, o := range metas[1:] {
		where := fmt.Sprintf("loader: %s/%s/dataset.json and %s/%s/dataset.json", paths[0], split, paths[i+1], split)
		sameIgnore := (m.IgnoreLabelID == nil) == (o.IgnoreLabelID == nil) && (m.IgnoreLabelID == nil || *m.IgnoreLabelID == *o.IgnoreLabelID)
		switch {
		case m.SeqLen != o.SeqLen:
			return m, fmt.Errorf("%s: seq_len %d vs %d", where, m.SeqLen, o.SeqLen)
		case m.VocabSize != o.VocabSize:
			return m, fmt.Errorf("%s: vocab_size %d vs %d", where, m.VocabSize, o.VocabSize)
		case m.PadID != o.PadID:
			return m, fmt.Errorf("%s: pad_id %d vs %d", where, m.PadID, o.PadID)
		case !sameIgnore:
			return m, fmt.Errorf("%s: ignore_label_id differs", where)
		case m.BlankIdentifierID != o.BlankIdentifierID:
			return m, fmt.Errorf("%s: blank_identifier_id %d vs %d", where, m.BlankIdentifierID, o.BlankIdentifierID)
		case !slices.Equal(m.Sets, o.Sets):
			return m, fmt.Errorf("%s: sets %v vs %v", where, m.Sets, o.Sets)
		case metas[0].NumPuzzleIdentifiers != o.NumPuzzleIdentifiers:
			return m, fmt.Errorf("%s: num_puzzle_identifiers %d vs %d (the reference requires them equal)", where, metas[0].NumPuzzleIdentifiers, o.NumPuzzleIdentifiers)
		}
		m.NumPuzzleIdentifiers += o.NumPuzzleIdentifiers
		m.TotalGroups += o.TotalGroups
		m.TotalPuzzles += o.TotalPuzzles
		sumMean += o.MeanPuzzleExamples * float64(o.TotalPuzzles)
	}
	if m.TotalPuzzles > 0 {
		m.MeanPuzzleExamples = sumMean / float64(m.TotalPuzzles)
	}
	return m, nil
}

// rankShards lists the shards rank reads in shard-local mode.
func rankShards(sm *dataset.SplitManifest, rank, worldSize int) []dataset.Shard {
	var out []dataset.Shard
	for i, sh := range sm.Shards {
		if i%worldSize == rank {
			out = append(out, sh)
		}
	}
	return out
}

// rankCounts is every rank's rows, puzzles and groups in shard-local mode.
func rankCounts(sm *dataset.SplitManifest, worldSize int) (rows, puzzles, groups []int64) {
	rows, puzzles, groups = make([]int64, worldSize), make([]int64, worldSize), make([]int64, worldSize)
	for i, sh := range sm.Shards {
		r := i % worldSize
		rows[r] += sh.Rows
		puzzles[r] += sh.Puzzles
		groups[r] += sh.Groups
	}
	return rows, puzzles, groups
}

// load brings the shards this process reads into a store.
func (s *Source) load(ctx context.Context, ds *dataset.Dataset, sm *dataset.SplitManifest, meta dataset.Metadata, opts OpenOptions) (*store, error) {
	shards := sm.Shards
	if opts.ShardLocal {
		if len(shards) < opts.WorldSize {
			return nil, fmt.Errorf("loader: %s split %s has %d shards, fewer than the %d ranks; shard-local mode needs at least one shard per rank",
				ds.Dir, sm.Name, len(shards), opts.WorldSize)
		}
		shards = rankShards(sm, opts.Rank, opts.WorldSize)
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = DefaultCacheDir(ds.Dir)
	}
	recs := make([][]arrow.RecordBatch, len(shards))
	unmaps := make([]func() error, len(shards))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	for i, sh := range shards {
		g.Go(func() error {
			var err error
			if opts.Storage == Cache {
				recs[i], unmaps[i], err = openCached(gctx, ds, sm.Name, sh, meta.SeqLen, cacheDir, opts.Mem)
				return err
			}
			tbl, free, err := decodeShard(gctx, ds, sm.Name, sh, meta.SeqLen, opts.Mem)
			if err != nil {
				return err
			}
			defer tbl.Release()
			unmaps[i] = free
			recs[i], err = tableRecords(tbl, meta.SeqLen)
			return err
		})
	}
	err := g.Wait()
	st := &store{seqLen: meta.SeqLen}
	s.stores = append(s.stores, st)
	for i, rs := range recs {
		for _, r := range rs {
			if err == nil {
				if aerr := st.add(r); aerr != nil {
					err = fmt.Errorf("%s: %w", ds.ShardPath(shards[i]), aerr)
				}
			}
			r.Release()
		}
		if unmaps[i] != nil {
			s.unmap = append(s.unmap, unmaps[i])
		}
		s.Bytes += shards[i].Bytes
	}
	if err != nil {
		return nil, err
	}
	var want int64
	for _, sh := range shards {
		want += sh.Rows
	}
	if st.rows() != want {
		return nil, fmt.Errorf("loader: %s split %s: read %d rows, the manifest lists %d", ds.Dir, sm.Name, st.rows(), want)
	}
	st.finish()
	return st, nil
}

// decodeShard reads a shard, checks its size and sha256 against the
// manifest, and decodes it. The token columns are decoded straight into one
// exact-size buffer each (see decodeTokens), the small columns with pqarrow;
// free releases the token buffers once the table is no longer used.
func decodeShard(ctx context.Context, ds *dataset.Dataset, split string, sh dataset.Shard, seqLen int, mem memory.Allocator) (tbl arrow.Table, free func() error, err error) {
	path := ds.ShardPath(sh)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("loader: shard %s listed in %s/manifest.json is missing: %w", sh.File, ds.Dir, err)
		}
		return nil, nil, fmt.Errorf("loader: %w", err)
	}
	if int64(len(data)) != sh.Bytes {
		return nil, nil, fmt.Errorf("loader: %s: %d bytes, the manifest says %d (the file was changed or truncated)", path, len(data), sh.Bytes)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sh.SHA256 {
		return nil, nil, fmt.Errorf("loader: %s: checksum mismatch: sha256 %x, the manifest says %s (the file is corrupt or was changed)", path, sum, sh.SHA256)
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	defer rdr.Close()
	for _, kv := range rdr.MetaData().KeyValueMetadata() {
		if kv.Key == dataset.KeySplit && kv.Value != nil && *kv.Value != split {
			return nil, nil, fmt.Errorf("loader: %s: file metadata says split %q, the manifest %q", path, *kv.Value, split)
		}
	}
	fr, err := dataset.NewArrowReader(rdr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: 1 << 16}, mem)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	if err := dataset.CheckSchema(schema, seqLen); err != nil {
		return nil, nil, fmt.Errorf("loader: %s: schema breaks the dataset contract: %w", path, err)
	}
	if rows := rdr.NumRows(); rows != sh.Rows {
		return nil, nil, fmt.Errorf("loader: %s: %d rows, the manifest says %d", path, rows, sh.Rows)
	}
	var examples []byte
	var frees []func() error
	release := func() error {
		var errs []error
		for _, f := range frees {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = release()
		}
	}()
	if sh.Rows > 0 {
		b, f, err := allocLarge(int(sh.Rows) * recordSize(seqLen))
		if err != nil {
			return nil, nil, fmt.Errorf("loader: %s: %w", path, err)
		}
		examples = b
		frees = append(frees, f)
	}
	g, gctx := errgroup.WithContext(ctx)
	for col := range 2 { // inputs into the first part of each record, labels into the second
		g.Go(func() error { return decodeTokens(gctx, rdr, col, seqLen, examples) })
	}
	var rest arrow.Table
	g.Go(func() (err error) {
		groups := make([]int, rdr.NumRowGroups())
		for i := range groups {
			groups[i] = i
		}
		rest, err = fr.ReadRowGroups(gctx, []int{2, 3, 4, 5, 6}, groups)
		if err != nil {
			return err
		}
		return packIdentifiers(rest.Column(0).Data(), seqLen, examples)
	})
	if err := g.Wait(); err != nil {
		if rest != nil {
			rest.Release()
		}
		return nil, nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	defer rest.Release()
	full := storeSchema(seqLen)
	cols := make([]arrow.Column, 0, full.NumFields())
	td := array.NewData(full.Field(colExample).Type, int(sh.Rows), []*memory.Buffer{nil, memory.NewBufferBytes(examples)}, nil, 0, 0)
	arr := array.MakeFromData(td)
	td.Release()
	ch := arrow.NewChunked(full.Field(colExample).Type, []arrow.Array{arr})
	arr.Release()
	cols = append(cols, *arrow.NewColumn(full.Field(colExample), ch))
	ch.Release()
	for i := int64(1); i < rest.NumCols(); i++ { // the identifier column is packed into the records
		c := rest.Column(int(i))
		cols = append(cols, *arrow.NewColumn(full.Field(colPuzzle+int(i)-1), c.Data()))
	}
	tbl = array.NewTable(full, cols, sh.Rows)
	for i := range cols {
		cols[i].Release()
	}
	return tbl, release, nil
}

// packIdentifiers writes the puzzle_identifier column into the last four
// bytes of every record of dst.
func packIdentifiers(ids *arrow.Chunked, seqLen int, dst []byte) error {
	w := recordSize(seqLen)
	off := 2 * seqLen
	for _, c := range ids.Chunks() {
		a, ok := c.(*array.Int32)
		if !ok {
			return fmt.Errorf("column %s is %s, want int32", dataset.ColPuzzleIdentifier, c.DataType())
		}
		if a.NullN() > 0 {
			return fmt.Errorf("column %s has %d nulls", dataset.ColPuzzleIdentifier, a.NullN())
		}
		for _, id := range a.Int32Values() {
			if off+4 > len(dst) {
				return fmt.Errorf("column %s has more rows than the manifest lists", dataset.ColPuzzleIdentifier)
			}
			binary.LittleEndian.PutUint32(dst[off:], uint32(id))
			off += w
		}
	}
	if rows := off / w; rows != len(dst)/w {
		return fmt.Errorf("column %s has %d rows, the manifest lists %d", dataset.ColPuzzleIdentifier, rows, len(dst)/w)
	}
	return nil
}

// decodeTokens decodes token column col (0 inputs, 1 labels) of every row
// group into the records of dst (see recordSize), with one copy per value.
// pqarrow's fixed-size binary builder would instead grow by doubling and
// zero each new buffer; on a machine with slow page faults that cost ten
// times the decoding itself.
func decodeTokens(ctx context.Context, rdr *file.Reader, col, seqLen int, dst []byte) error {
	const chunk = 4096
	values := make([]parquet.FixedLenByteArray, chunk)
	defs := make([]int16, chunk)
	off, stride := col*seqLen, recordSize(seqLen)
	for rg := range rdr.NumRowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rgr := rdr.RowGroup(rg)
		cr, err := rgr.Column(col)
		if err != nil {
			return err
		}
		flba, ok := cr.(*file.FixedLenByteArrayColumnChunkReader)
		if !ok {
			return fmt.Errorf("column %d is not fixed-length byte arrays", col)
		}
		for remaining := rgr.NumRows(); remaining > 0; {
			lv, n, err := flba.ReadBatchInPage(min(remaining, chunk), values, defs, nil)
			if err != nil {
				return fmt.Errorf("row group %d column %d: %w", rg, col, err)
			}
			if lv == 0 {
				return fmt.Errorf("row group %d column %d ends %d rows early", rg, col, remaining)
			}
			if int64(n) != lv {
				return fmt.Errorf("row group %d column %d has nulls", rg, col)
			}
			for _, v := range values[:n] {
				if len(v) != seqLen || off+seqLen > len(dst) {
					return fmt.Errorf("row group %d column %d: value of %d bytes, want %d (or more rows than the manifest lists)", rg, col, len(v), seqLen)
				}
				copy(dst[off:off+seqLen], v)
				off += stride
			}
			remaining -= lv
		}
	}
	if rows := (off - col*seqLen) / stride; rows != len(dst)/stride {
		return fmt.Errorf("column %d has %d rows, the manifest lists %d", col, rows, len(dst)/stride)
	}
	return nil
}

// tableRecords cuts a table of storeSchema into record batches whose
// columns are aligned (the same rows in every column).
func tableRecords(tbl arrow.Table, seqLen int) ([]arrow.RecordBatch, error) {
	schema := storeSchema(seqLen)
	tr := array.NewTableReader(tbl, tbl.NumRows()+1)
	defer tr.Release()
	var out []arrow.RecordBatch
	for tr.Next() {
		r := tr.RecordBatch()
		out = append(out, array.NewRecordBatch(schema, r.Columns(), r.NumRows()))
	}
	if err := tr.Err(); err != nil {
		for _, r := range out {
			r.Release()
		}
		return nil, err
	}
	return out, nil
}

// buildParts derives the reference's index arrays from the puzzle, group,
// identifier and set columns, checking the format's invariants: rows of one
// set contiguous, puzzle and group indices increasing, a puzzle inside one
// group with one identifier.
func buildParts(st *store, meta dataset.Metadata, dsIndex int, where string) ([]*Part, error) {
	parts := make([]*Part, len(meta.Sets))
	for i, name := range meta.Sets {
		if dsIndex > 0 {
			name += strconv.Itoa(dsIndex)
		}
		parts[i] = &Part{Name: name, Dataset: dsIndex, store: st, PuzzleIndices: []int64{0}, GroupIndices: []int64{0}}
	}
	var (
		cur                 *Part
		row                 int64
		prevPuzzle, prevGrp int32
		prevSet             string
	)
	closePart := func() {
		if cur == nil {
			return
		}
		cur.PuzzleIndices = append(cur.PuzzleIndices, row-cur.base)
		cur.GroupIndices = append(cur.GroupIndices, int64(len(cur.PuzzleIdentifiers)))
	}
	for c, rec := range st.recs {
		examples := st.examples[c]
		w := recordSize(st.seqLen)
		puzzles, err := int32Col(rec, colPuzzle)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		groups, err := int32Col(rec, colGroup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		sets, ok := rec.Column(colSet).(*array.String)
		if !ok {
			return nil, fmt.Errorf("%s: column set is %s, want string", where, rec.Column(colSet).DataType())
		}
		for j := range puzzles {
			_, _, id := splitRecord(examples[j*w:(j+1)*w], st.seqLen)
			set := sets.Value(j)
			if cur == nil || set != prevSet {
				closePart()
				k := slices.Index(meta.Sets, set)
				if k < 0 {
					return nil, fmt.Errorf("%s row %d: set %q is not in dataset.json sets %v", where, row, set, meta.Sets)
				}
				if len(parts[k].PuzzleIdentifiers) > 0 {
					return nil, fmt.Errorf("%s row %d: the rows of set %q are not contiguous", where, row, set)
				}
				cur = parts[k]
				cur.base = row
				prevSet = set
				cur.PuzzleIdentifiers = append(cur.PuzzleIdentifiers, id)
			} else if p, g := puzzles[j], groups[j]; p != prevPuzzle || g != prevGrp {
				if p < prevPuzzle || g < prevGrp || (p == prevPuzzle && g != prevGrp) {
					return nil, fmt.Errorf("%s row %d: puzzle %d group %d after puzzle %d group %d: indices must increase and a puzzle lie in one group",
						where, row, p, g, prevPuzzle, prevGrp)
				}
				cur.PuzzleIndices = append(cur.PuzzleIndices, row-cur.base)
				if g != prevGrp {
					cur.GroupIndices = append(cur.GroupIndices, int64(len(cur.PuzzleIdentifiers)))
				}
				cur.PuzzleIdentifiers = append(cur.PuzzleIdentifiers, id)
			} else if id != cur.PuzzleIdentifiers[len(cur.PuzzleIdentifiers)-1] {
				return nil, fmt.Errorf("%s row %d: puzzle %d changes identifier within its examples", where, row, puzzles[j])
			}
			if id < 0 || int(id) >= meta.NumPuzzleIdentifiers {
				return nil, fmt.Errorf("%s row %d: puzzle_identifier %d outside [0, %d)", where, row, id, meta.NumPuzzleIdentifiers)
			}
			prevPuzzle, prevGrp = puzzles[j], groups[j]
			row++
		}
	}
	closePart()
	for _, p := range parts {
		p.summarizeGroups()
		if p.Rows() > 1<<31-1 {
			return nil, fmt.Errorf("%s: set %s has %d rows; batches index rows with int32", where, p.Name, p.Rows())
		}
	}
	return parts, nil
}
