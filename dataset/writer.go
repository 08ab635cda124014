package dataset

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// Defaults for Options.
const (
	DefaultShardBytes    = 64 << 20 // token bytes (inputs + labels) per shard
	DefaultRowGroupBytes = 16 << 20 // token bytes per Parquet row group
	DefaultCompression   = "zstd"
)

// Compressions lists the accepted Options.Compression values.
var Compressions = map[string]compress.Compression{
	"zstd":   compress.Codecs.Zstd,
	"snappy": compress.Codecs.Snappy,
	"gzip":   compress.Codecs.Gzip,
	"lz4":    compress.Codecs.Lz4Raw,
	"brotli": compress.Codecs.Brotli,
	"none":   compress.Codecs.Uncompressed,
}

// Options configure Create.
type Options struct {
	Force         bool   // replace an existing dataset at the destination
	ShardBytes    int64  // target token bytes per shard (0: DefaultShardBytes)
	RowGroupBytes int64  // target token bytes per row group (0: DefaultRowGroupBytes)
	Compression   string // a key of Compressions ("": zstd level 1)
	Workers       int    // shards encoded at once (0: 1)
	Builder       Builder
	CodeVersion   string
	Created       string // manifest "created" field; empty leaves it out
}

// Writer assembles a dataset in a hidden sibling directory and moves it into
// place only in Commit, so an interrupted build never leaves something that
// looks like a dataset.
type Writer struct {
	dir, tmp string
	opts     Options
	codec    compress.Compression
	encoders chan struct{} // bounds the shards encoding at the same time
	pending  chan struct{} // bounds the shards holding records not yet encoded
	splits   []*SplitWriter
	files    []string // extra top-level files, relative to tmp
	done     bool
}

// Create starts a dataset at dir. It refuses to touch an existing dataset
// unless opts.Force is set, and never replaces a non-empty directory that is
// not a dataset.
func Create(dir string, opts Options) (*Writer, error) {
	if opts.ShardBytes <= 0 {
		opts.ShardBytes = DefaultShardBytes
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	if opts.Compression == "" {
		opts.Compression = DefaultCompression
	}
	codec, ok := Compressions[opts.Compression]
	if !ok {
		return nil, fmt.Errorf("unknown compression %q (use one of zstd, snappy, gzip, lz4, brotli, none)", opts.Compression)
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if err := checkDestination(dir, opts.Force); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	tmp, err := atomicdir.Stage(dir)
	if err != nil {
		return nil, err
	}
	return &Writer{dir: dir, tmp: tmp, opts: opts, codec: codec, encoders: make(chan struct{}, opts.Workers),
		pending: make(chan struct{}, opts.Workers+1)}, nil
}

func checkDestination(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		return fmt.Errorf("%s exists and is not a trm dataset (no manifest.json); refusing to replace it", dir)
	}
	if !force {
		return fmt.Errorf("%s already holds a dataset; pass --force to replace it", dir)
	}
	return nil
}

// WriteFile adds a top-level file (identifiers.json, test_puzzles.json ...).
func (w *Writer) WriteFile(name string, data []byte) error {
	if !filepath.IsLocal(name) || strings.ContainsRune(name, filepath.Separator) {
		return fmt.Errorf("dataset file name %q must be a plain file name", name)
	}
	if err := atomicdir.WriteFile(filepath.Join(w.tmp, name), data); err != nil {
		return w.ioError(err)
	}
	w.files = append(w.files, name)
	return nil
}

// SplitSpec describes a split about to be written.
type SplitSpec struct {
	Name      string
	VocabSize int
	GridShape [2]int // H, W of inputs/labels; H*W is seq_len
}

// Group is one group's rows in reference order: its puzzles in order, each
// with its examples. Inputs and Labels hold rows*seq_len tokens each.
type Group struct {
	Inputs, Labels    []byte
	PuzzleSizes       []int32  // examples per puzzle
	PuzzleIdentifiers []int32  // one per puzzle
	Augs              []string // one per puzzle: the transform applied, "" for the original
}

// Rows is the number of examples in g.
func (g *Group) Rows() int {
	n := 0
	for _, s := range g.PuzzleSizes {
		n += int(s)
	}
	return n
}

// Reset empties g, keeping its buffers for reuse.
func (g *Group) Reset() {
	g.Inputs, g.Labels = g.Inputs[:0], g.Labels[:0]
	g.PuzzleSizes, g.PuzzleIdentifiers, g.Augs = g.PuzzleSizes[:0], g.PuzzleIdentifiers[:0], g.Augs[:0]
}

// AddPuzzle appends one puzzle whose examples are already in Inputs/Labels.
func (g *Group) AddPuzzle(examples int, identifier int32, aug string) {
	g.PuzzleSizes = append(g.PuzzleSizes, int32(examples))
	g.PuzzleIdentifiers = append(g.PuzzleIdentifiers, identifier)
	g.Augs = append(g.Augs, aug)
}

// SplitStats are the running totals of a split.
type SplitStats struct{ Rows, Puzzles, Groups int64 }

// SplitWriter streams the groups of one split into shards.
type SplitWriter struct {
	w        *Writer
	spec     SplitSpec
	seqLen   int
	schema   *arrow.Schema
	stats    SplitStats
	shards   []*shardWriter
	cur      *shardWriter
	batch    rowBatch
	batchMax int
	free     chan rowBatch // encoded batches, recycled: fresh memory costs page faults
	closed   bool
}

// CreateSplit starts a split. Splits are written one after the other.
func (w *Writer) CreateSplit(spec SplitSpec) (*SplitWriter, error) {
	if !splitNameRE.MatchString(spec.Name) {
		return nil, fmt.Errorf("invalid split name %q", spec.Name)
	}
	for _, s := range w.splits {
		if s.spec.Name == spec.Name {
			return nil, fmt.Errorf("split %q written twice", spec.Name)
		}
		if !s.closed {
			return nil, fmt.Errorf("split %q is still open", s.spec.Name)
		}
	}
	seqLen := spec.GridShape[0] * spec.GridShape[1]
	if seqLen <= 0 {
		return nil, fmt.Errorf("split %s: grid shape %v is empty", spec.Name, spec.GridShape)
	}
	if spec.VocabSize < 1 || spec.VocabSize > 256 {
		return nil, fmt.Errorf("split %s: vocab size %d outside 1..256", spec.Name, spec.VocabSize)
	}
	if err := os.Mkdir(filepath.Join(w.tmp, spec.Name), 0o755); err != nil {
		return nil, err
	}
	s := &SplitWriter{w: w, spec: spec, seqLen: seqLen, schema: Schema(seqLen), free: make(chan rowBatch, 2*w.opts.Workers+2)}
	s.batchMax = int(max(1, w.opts.RowGroupBytes/int64(2*seqLen)))
	s.batch = newRowBatch(s.batchMax, seqLen)
	w.splits = append(w.splits, s)
	return s, nil
}

// Stats returns the totals written so far.
func (s *SplitWriter) Stats() SplitStats { return s.stats }

// WriteGroup appends one group. It checks the group's shape and token range
// so that a builder bug can never produce a dataset that fails verification.
func (s *SplitWriter) WriteGroup(g *Group) error {
	if s.closed {
		return fmt.Errorf("split %s: write after close", s.spec.Name)
	}
	rows := g.Rows()
	if err := s.checkGroup(g, rows); err != nil {
		return fmt.Errorf("split %s group %d: %w", s.spec.Name, s.stats.Groups, err)
	}
	if s.cur == nil {
		if err := s.startShard(); err != nil {
			return s.w.ioError(err)
		}
	}
	// Flush before the group would overflow the batch's preallocated
	// buffers: growing them would copy the whole batch.
	if len(s.batch.puzzles) > 0 && len(s.batch.puzzles)+rows > s.batchMax {
		if err := s.flushBatch(); err != nil {
			return s.w.ioError(err)
		}
	}
	b := &s.batch
	b.inputs = append(b.inputs, g.Inputs...)
	b.labels = append(b.labels, g.Labels...)
	puzzle := int32(s.stats.Puzzles)
	for p, size := range g.PuzzleSizes {
		for range size {
			b.identifiers = append(b.identifiers, g.PuzzleIdentifiers[p])
			b.puzzles = append(b.puzzles, puzzle)
			b.groups = append(b.groups, int32(s.stats.Groups))
			b.augs = append(b.augs, g.Augs[p])
		}
		puzzle++
	}
	s.stats.Rows += int64(rows)
	s.stats.Puzzles += int64(len(g.PuzzleSizes))
	s.stats.Groups++
	s.cur.man.Rows += int64(rows)
	s.cur.man.Puzzles += int64(len(g.PuzzleSizes))
	s.cur.man.Groups++
	if s.cur.man.Rows*int64(2*s.seqLen) >= s.w.opts.ShardBytes {
		return s.w.ioError(s.endShard())
	}
	return nil
}

// checkGroup checks a group's shape and token range so that a builder bug
// can never produce a dataset that fails verification.
func (s *SplitWriter) checkGroup(g *Group, rows int) error {
	if len(g.PuzzleIdentifiers) != len(g.PuzzleSizes) || len(g.Augs) != len(g.PuzzleSizes) {
		return fmt.Errorf("%d puzzle sizes, %d identifiers, %d augs", len(g.PuzzleSizes), len(g.PuzzleIdentifiers), len(g.Augs))
	}
	if len(g.Inputs) != rows*s.seqLen || len(g.Labels) != rows*s.seqLen {
		return fmt.Errorf("%d rows of %d tokens need %d bytes, have %d inputs and %d labels", rows, s.seqLen, rows*s.seqLen, len(g.Inputs), len(g.Labels))
	}
	for i, size := range g.PuzzleSizes {
		if size <= 0 {
			return fmt.Errorf("puzzle %d has %d examples", i, size)
		}
	}
	if err := checkTokens(g.Inputs, s.spec.VocabSize, s.seqLen); err != nil {
		return fmt.Errorf("inputs %w", err)
	}
	if err := checkTokens(g.Labels, s.spec.VocabSize, s.seqLen); err != nil {
		return fmt.Errorf("labels %w", err)
	}
	return nil
}

func checkTokens(tokens []byte, vocab, seqLen int) error {
	if vocab >= 256 {
		return nil
	}
	if i := firstTokenAtLeast(tokens, byte(vocab)); i >= 0 {
		return fmt.Errorf("row %d position %d: token %d >= vocab size %d", i/seqLen, i%seqLen, tokens[i], vocab)
	}
	return nil
}

// firstTokenAtLeast returns the index of the first byte >= limit, or -1.
// Builders write gigabytes of tokens, so it tests eight bytes at a time:
// for limit <= 128, adding 0x80-limit to a byte below 0x80 sets its top bit
// exactly when the byte is >= limit (no carry leaves the byte), and bytes
// >= 0x80 have the top bit set already.
func firstTokenAtLeast(tokens []byte, limit byte) int {
	i := 0
	if limit <= 0x80 {
		add := uint64(0x80-limit) * 0x0101010101010101
		for ; i+8 <= len(tokens); i += 8 {
			w := binary.LittleEndian.Uint64(tokens[i:])
			if ((w&0x7f7f7f7f7f7f7f7f)+add|w)&0x8080808080808080 != 0 {
				break
			}
		}
	}
	for ; i < len(tokens); i++ {
		if tokens[i] >= limit {
			return i
		}
	}
	return -1
}

// rowBatch accumulates rows for one Parquet row group.
type rowBatch struct {
	inputs, labels               []byte
	identifiers, puzzles, groups []int32
	augs                         []string
}

// newRowBatch preallocates a batch: its slices are handed to the encoder
// when full, so each batch gets fresh ones.
func newRowBatch(rows, seqLen int) rowBatch {
	return rowBatch{
		inputs:      make([]byte, 0, rows*seqLen),
		labels:      make([]byte, 0, rows*seqLen),
		identifiers: make([]int32, 0, rows),
		puzzles:     make([]int32, 0, rows),
		groups:      make([]int32, 0, rows),
		augs:        make([]string, 0, rows),
	}
}

func (b *rowBatch) reset() {
	b.inputs, b.labels = b.inputs[:0], b.labels[:0]
	b.identifiers, b.puzzles, b.groups, b.augs = b.identifiers[:0], b.puzzles[:0], b.groups[:0], b.augs[:0]
}

func (s *SplitWriter) startShard() error {
	// Wait while too many earlier shards still have rows to encode: the
	// producer must not run ahead of the encoders by more than a shard.
	s.w.pending <- struct{}{}
	name := fmt.Sprintf("part-%05d.parquet", len(s.shards))
	rel := filepath.ToSlash(filepath.Join(s.spec.Name, name))
	sh, err := newShardWriter(s.w, filepath.Join(s.w.tmp, s.spec.Name, name), s.schema, s.free)
	if err != nil {
		<-s.w.pending
		return err
	}
	sh.man = Shard{File: rel, FirstRow: s.stats.Rows, FirstGroup: s.stats.Groups, FirstPuzzle: s.stats.Puzzles}
	s.shards = append(s.shards, sh)
	s.cur = sh
	return nil
}

// flushBatch hands the accumulated rows to the current shard's encoder.
func (s *SplitWriter) flushBatch() error {
	b := s.batch
	if len(b.puzzles) == 0 {
		return nil
	}
	select {
	case s.batch = <-s.free:
		s.batch.reset()
	default:
		s.batch = newRowBatch(s.batchMax, s.seqLen)
	}
	rec := b.record(s.schema)
	select {
	case s.cur.records <- encodeJob{rec, b}:
		return nil
	case <-s.cur.done:
		rec.Release()
		return s.cur.err
	}
}

func (s *SplitWriter) endShard() error {
	if err := s.flushBatch(); err != nil {
		return err
	}
	close(s.cur.records)
	s.cur = nil
	return nil
}

// record wraps the batch's slices as Arrow arrays without copying them.
func (b *rowBatch) record(schema *arrow.Schema) arrow.RecordBatch {
	n := len(b.puzzles)
	mem := memory.DefaultAllocator
	tokens := func(buf []byte, i int) arrow.Array {
		data := array.NewData(schema.Field(i).Type, n, []*memory.Buffer{nil, memory.NewBufferBytes(buf)}, nil, 0, 0)
		defer data.Release()
		return array.MakeFromData(data)
	}
	ints := func(v []int32) arrow.Array {
		data := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(v))}, nil, 0, 0)
		defer data.Release()
		return array.MakeFromData(data)
	}
	sets := array.NewStringBuilder(mem)
	defer sets.Release()
	sets.Reserve(n)
	sets.ReserveData(3 * n)
	augs := array.NewStringBuilder(mem)
	defer augs.Release()
	augs.Reserve(n)
	augBytes := 0
	for _, a := range b.augs {
		augBytes += len(a)
	}
	augs.ReserveData(augBytes)
	for _, a := range b.augs {
		sets.Append("all")
		augs.Append(a)
	}
	cols := []arrow.Array{tokens(b.inputs, 0), tokens(b.labels, 1), ints(b.identifiers), ints(b.puzzles), ints(b.groups), sets.NewArray(), augs.NewArray()}
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// shardWriter encodes one Parquet file in its own goroutine, hashing the
// bytes as they are written.
type shardWriter struct {
	path    string
	man     Shard
	file    *os.File
	buf     *bufio.Writer
	sink    *shardSink
	hash    hash.Hash
	count   *countWriter
	fw      *pqarrow.FileWriter
	records chan encodeJob
	done    chan struct{}
	err     error
}

// encodeJob is a record for the encoder plus the batch whose memory it
// wraps, handed back for reuse once encoded.
type encodeJob struct {
	rec   arrow.RecordBatch
	batch rowBatch
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func newShardWriter(w *Writer, path string, schema *arrow.Schema, free chan rowBatch) (*shardWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	sh := &shardWriter{path: path, file: f, hash: sha256.New(), count: &countWriter{},
		records: make(chan encodeJob, 1), done: make(chan struct{})}
	sh.buf = bufio.NewWriterSize(multiWriter{f, sh.hash, sh.count}, 1<<20)
	sh.sink = &shardSink{sh.buf}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(w.codec),
		parquet.WithCompressionLevel(compressionLevel(w.opts.Compression)),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryFor(ColSet, true),
		// aug is not dictionary-encoded: Sudoku shuffles are unique per row,
		// where a dictionary only costs hashing before it falls back to
		// plain; zstd removes ARC's per-puzzle repeats just as well.
		parquet.WithStatsFor(ColInputs, false),
		parquet.WithStatsFor(ColLabels, false),
		parquet.WithStatsFor(ColAug, false),
		parquet.WithMaxRowGroupLength(1<<30),
		parquet.WithCreatedBy("trm dataset format v1"),
	)
	sh.fw, err = pqarrow.NewFileWriter(schema, sh.sink, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	go sh.run(w.encoders, w.pending, free)
	return sh, nil
}

// shardSink is what pqarrow writes a shard to: buffered while row groups
// stream in, then unbuffered, so that a shard whose rows are all encoded
// holds no buffer while it waits for its split's footer metadata.
type shardSink struct{ w io.Writer }

func (s *shardSink) Write(p []byte) (int, error) { return s.w.Write(p) }

// compressionLevel is 1 for zstd: measured faster and smaller than its
// default level on token data (DESIGN.md); other codecs keep theirs.
func compressionLevel(codec string) int {
	if codec == "zstd" {
		return 1
	}
	return compress.DefaultCompressionLevel
}

type multiWriter struct {
	f     *os.File
	h     hash.Hash
	count *countWriter
}

func (m multiWriter) Write(p []byte) (int, error) {
	m.h.Write(p)
	m.count.Write(p)
	return m.f.Write(p)
}

// run encodes the shard's records as they come. pqarrow's Write encodes
// and compresses the whole row group before returning, so the batch's
// memory can then be recycled.
func (sh *shardWriter) run(encoders, pending chan struct{}, free chan rowBatch) {
	defer close(sh.done)
	defer func() { <-pending }()
	defer func() {
		if sh.err == nil {
			if err := sh.buf.Flush(); err != nil {
				sh.err = fmt.Errorf("%s: %w", sh.path, err)
			}
		}
		sh.sink.w, sh.buf = multiWriter{sh.file, sh.hash, sh.count}, nil
	}()
	for job := range sh.records {
		if sh.err == nil {
			encoders <- struct{}{}
			if err := sh.fw.Write(job.rec); err != nil {
				sh.err = fmt.Errorf("%s: %w", sh.path, err)
			}
			<-encoders
		}
		job.rec.Release()
		select {
		case free <- job.batch:
		default:
		}
	}
}

// finish writes the footer with the split's metadata, syncs and records the
// shard's size and checksum.
func (sh *shardWriter) finish(kv map[string]string, keys []string) error {
	<-sh.done
	if sh.err != nil {
		sh.file.Close()
		return sh.err
	}
	for _, k := range keys {
		if err := sh.fw.AppendKeyValueMetadata(k, kv[k]); err != nil {
			sh.file.Close()
			return err
		}
	}
	if err := sh.fw.Close(); err != nil {
		sh.file.Close()
		return fmt.Errorf("%s: %w", sh.path, err)
	}
	if err := sh.file.Sync(); err != nil {
		sh.file.Close()
		return fmt.Errorf("%s: %w", sh.path, err)
	}
	if err := sh.file.Close(); err != nil {
		return fmt.Errorf("%s: %w", sh.path, err)
	}
	sh.man.Bytes = sh.count.n
	sh.man.SHA256 = hex.EncodeToString(sh.hash.Sum(nil))
	return nil
}

// abort waits for the encoder (whose input the caller has closed) and
// closes the file; the caller removes it.
func (sh *shardWriter) abort() {
	<-sh.done
	sh.file.Close()
}

// Close finishes the split: the last shard, every shard's footer (which
// carries dataset.json and the grid shape), and dataset.json itself.
func (s *SplitWriter) Close(meta Metadata) error {
	if s.closed {
		return fmt.Errorf("split %s closed twice", s.spec.Name)
	}
	if s.cur != nil {
		if err := s.endShard(); err != nil {
			return s.w.ioError(err)
		}
	}
	s.closed = true
	if meta.SeqLen != s.seqLen || meta.VocabSize != s.spec.VocabSize {
		return fmt.Errorf("split %s: dataset.json says seq_len %d, vocab %d; the rows have %d, %d", s.spec.Name, meta.SeqLen, meta.VocabSize, s.seqLen, s.spec.VocabSize)
	}
	metaJSON := meta.MarshalReference()
	shape, _ := json.Marshal(s.spec.GridShape)
	kv := map[string]string{
		KeyMetadata:  string(metaJSON),
		KeyGridShape: string(shape),
		KeyFormat:    fmt.Sprintf("%s/%d", FormatName, FormatVersion),
		KeySplit:     s.spec.Name,
	}
	keys := []string{KeyFormat, KeySplit, KeyGridShape, KeyMetadata}
	var errs []error
	for _, sh := range s.shards {
		if err := sh.finish(kv, keys); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s.w.ioError(err)
	}
	return s.w.ioError(atomicdir.WriteFile(filepath.Join(s.w.tmp, s.spec.Name, "dataset.json"), metaJSON))
}

func (s *SplitWriter) manifest() SplitManifest {
	m := SplitManifest{Name: s.spec.Name, Rows: s.stats.Rows, Puzzles: s.stats.Puzzles, Groups: s.stats.Groups, GridShape: s.spec.GridShape}
	for _, sh := range s.shards {
		m.Shards = append(m.Shards, sh.man)
	}
	return m
}

// Abort discards everything written. It is safe to call after Commit (it
// then does nothing), so callers can simply defer it.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	for _, s := range w.splits {
		if s.cur != nil {
			close(s.cur.records)
			s.cur = nil
		}
		for _, sh := range s.shards {
			sh.abort()
		}
	}
	os.RemoveAll(w.tmp)
}

// Commit writes the manifest and dataset card, syncs, and renames the
// dataset into place (replacing an old one only when Options.Force).
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("dataset already committed or aborted")
	}
	man := Manifest{Format: FormatName, Version: FormatVersion, Builder: w.opts.Builder, CodeVersion: w.opts.CodeVersion, Created: w.opts.Created}
	if len(man.Builder.Config) == 0 {
		man.Builder.Config = json.RawMessage("{}")
	}
	var metas []Metadata
	for _, s := range w.splits {
		if !s.closed {
			return fmt.Errorf("split %s was not closed", s.spec.Name)
		}
		man.Splits = append(man.Splits, s.manifest())
		m, err := ReadMetadata(w.tmp, s.spec.Name)
		if err != nil {
			return err
		}
		metas = append(metas, m)
	}
	if err := atomicdir.WriteFile(filepath.Join(w.tmp, "README.md"), DatasetCard(&man, metas)); err != nil {
		return w.ioError(err)
	}
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	// The manifest is written last: a directory without one is never taken
	// for a dataset.
	if err := atomicdir.WriteFile(filepath.Join(w.tmp, "manifest.json"), append(data, '\n')); err != nil {
		return w.ioError(err)
	}
	for _, s := range w.splits {
		if err := atomicdir.SyncDir(filepath.Join(w.tmp, s.spec.Name)); err != nil {
			return err
		}
	}
	if err := atomicdir.SyncDir(w.tmp); err != nil {
		return err
	}
	if err := checkDestination(w.dir, w.opts.Force); err != nil {
		return err
	}
	if err := atomicdir.Swap(w.tmp, w.dir); err != nil {
		return err
	}
	w.done = true
	return nil
}

// ioError names a failed write by the file's place in the dataset (see
// atomicdir.StagedError).
func (w *Writer) ioError(err error) error { return atomicdir.StagedError(err, w.tmp, w.dir) }

// Dir is where the dataset appears after Commit.
func (w *Writer) Dir() string { return w.dir }
