package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/atomicdir"
	"golang.org/x/sync/errgroup"
)

// The IPC cache holds one uncompressed Arrow IPC file per Parquet shard,
// at CACHEDIR/<split>/<shard base name>.arrow. Each file's schema metadata
// records the shard it was decoded from (path, size, sha256, rows); a file
// whose record disagrees with the manifest is stale and is rebuilt. One
// file per shard lets shard-local ranks build and map only their own shards.
//
// Beside each file, <name>.arrow.xxh64 holds the XXH64 of its bytes, checked
// before the IPC reader sees them: arrow-go trusts the flatbuffers it maps
// (corrupt ones panic or make it allocate tens of gigabytes; found by
// FuzzCacheFile), and a flipped token would otherwise go unnoticed. XXH64
// runs at ~17 GB/s on one core, against ~1.5 GB/s for the shards' SHA-256,
// so checking adds little to mapping.
const (
	cacheFormat       = "trm-arrow-cache/4"
	cacheSumSuffix    = ".xxh64"
	keyCacheFormat    = "trm.cache_format"
	keyCacheSource    = "trm.cache_source"
	keyCacheSourceSum = "trm.cache_source_sha256"
	keyCacheSourceLen = "trm.cache_source_bytes"
	keyCacheRows      = "trm.cache_rows"
)

// DefaultCacheDir is where the IPC cache of the dataset in dir lives when
// no other directory is given: inside the dataset directory, so that it
// moves and is deleted with it.
func DefaultCacheDir(dir string) string { return filepath.Join(dir, ".trm-cache") }

func cachePath(cacheDir, split string, sh dataset.Shard) string {
	base := strings.TrimSuffix(filepath.Base(sh.File), filepath.Ext(sh.File))
	return filepath.Join(cacheDir, split, base+".arrow")
}

func cacheMetadata(sh dataset.Shard) arrow.Metadata {
	return arrow.NewMetadata(
		[]string{keyCacheFormat, keyCacheSource, keyCacheSourceSum, keyCacheSourceLen, keyCacheRows},
		[]string{cacheFormat, sh.File, sh.SHA256, strconv.FormatInt(sh.Bytes, 10), strconv.FormatInt(sh.Rows, 10)})
}

// errStale marks a cache file that does not match the manifest.
var errStale = errors.New("stale")

// openCached maps the cache file of a shard, rebuilding it first when it is
// missing or stale. The records reference the mapping until unmap is called.
func openCached(ctx context.Context, ds *dataset.Dataset, split string, sh dataset.Shard, seqLen int, cacheDir string, mem memory.Allocator) ([]arrow.RecordBatch, func() error, error) {
	path := cachePath(cacheDir, split, sh)
	recs, unmap, err := mapCacheFile(path, sh, seqLen)
	if err == nil {
		return recs, unmap, nil
	}
	if !errors.Is(err, errStale) && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if err := buildCacheFile(ctx, ds, split, sh, seqLen, path, mem); err != nil {
		return nil, nil, err
	}
	return mapCacheFile(path, sh, seqLen)
}

// mapCacheFile memory-maps an IPC cache file and checks it against its
// checksum, the shard's manifest entry and the schema contract.
func mapCacheFile(path string, sh dataset.Shard, seqLen int) (recs []arrow.RecordBatch, unmap func() error, err error) {
	wantSum, err := os.ReadFile(path + cacheSumSuffix)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("loader: cache file %s has no checksum: %w: %w", path, errStale, err)
		}
		return nil, nil, fmt.Errorf("loader: %w", err)
	}
	data, unmapData, err := mapFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			for _, r := range recs {
				r.Release()
			}
			_ = unmapData()
		}
	}()
	if sum := cacheSum(xxhash.Sum64(data)); sum != string(wantSum) {
		return nil, nil, fmt.Errorf("loader: cache file %s: checksum %q, %s says %q (corrupt or partly rewritten): %w",
			path, strings.TrimSpace(sum), path+cacheSumSuffix, strings.TrimSpace(string(wantSum)), errStale)
	}
	rdr, err := ipc.NewMappedFileReader(data)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: cache file %s: %w: %w", path, errStale, err)
	}
	defer rdr.Close()
	md := rdr.Schema().Metadata()
	want := cacheMetadata(sh)
	for _, k := range want.Keys() {
		wi, gi := want.FindKey(k), md.FindKey(k)
		if gi < 0 || md.Values()[gi] != want.Values()[wi] {
			return nil, nil, fmt.Errorf("loader: cache file %s was built from other data than %s (%s): %w", path, sh.File, k, errStale)
		}
	}
	if err := checkStoreSchema(rdr.Schema(), seqLen); err != nil {
		return nil, nil, fmt.Errorf("loader: cache file %s: %w: %w", path, errStale, err)
	}
	var rows int64
	for i := range rdr.NumRecords() {
		r, err := rdr.RecordBatch(i)
		if err != nil {
			return recs, nil, fmt.Errorf("loader: cache file %s record %d: %w: %w", path, i, errStale, err)
		}
		r.Retain()
		recs = append(recs, r)
		rows += r.NumRows()
	}
	if rows != sh.Rows {
		return recs, nil, fmt.Errorf("loader: cache file %s has %d rows, the shard %d: %w", path, rows, sh.Rows, errStale)
	}
	return recs, unmapData, nil
}

// cacheSum is the content of a cache file's checksum file.
func cacheSum(h uint64) string { return fmt.Sprintf("%016x\n", h) }

// buildCacheFile decodes a shard (checking its checksum) and writes it as
// an uncompressed IPC file, then its checksum file, each atomically: a
// reader sees complete files, and one that finds the new data beside the
// old checksum (or none) takes it as stale.
func buildCacheFile(ctx context.Context, ds *dataset.Dataset, split string, sh dataset.Shard, seqLen int, path string, mem memory.Allocator) error {
	tbl, free, err := decodeShard(ctx, ds, split, sh, seqLen, mem)
	if err != nil {
		return err
	}
	defer free()
	defer tbl.Release()
	recs, err := tableRecords(tbl, seqLen)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("loader: cache: %w", err)
	}
	md := cacheMetadata(sh)
	schema := arrow.NewSchema(storeSchema(seqLen).Fields(), &md)
	sum := xxhash.New()
	err = atomicdir.ReplaceFile(path, func(f io.Writer) error {
		w, err := ipc.NewFileWriter(io.MultiWriter(f, sum), ipc.WithSchema(schema), ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				w.Close()
				return err
			}
		}
		return w.Close()
	})
	if err == nil {
		err = atomicdir.WriteFileAtomic(path+cacheSumSuffix, []byte(cacheSum(sum.Sum64())))
	}
	if err != nil {
		return fmt.Errorf("loader: cache: %w", err)
	}
	return nil
}

// CacheReport says what BuildCache did for one split.
type CacheReport struct {
	Split          string
	Shards, Built  int   // shards in the split; cache files (re)built
	Rows, Bytes    int64 // rows; bytes of the cache files
	ParquetBytes   int64
	CacheDirectory string
}

// BuildCache brings the IPC cache of the dataset in dir up to date for the
// given splits (all when none are named): files that are missing or stale
// are rebuilt from the Parquet shards, fresh ones are kept. cacheDir ""
// means DefaultCacheDir(dir).
func BuildCache(ctx context.Context, dir, cacheDir string, splits []string, workers int) ([]CacheReport, error) {
	ds, err := dataset.Open(dir)
	if err != nil {
		return nil, err
	}
	if cacheDir == "" {
		cacheDir = DefaultCacheDir(dir)
	}
	if len(splits) == 0 {
		for _, s := range ds.Manifest.Splits {
			splits = append(splits, s.Name)
		}
	}
	if workers <= 0 {
		workers = 1
	}
	mem := memory.NewGoAllocator()
	var reports []CacheReport
	for _, name := range splits {
		sm, meta, err := ds.Split(name)
		if err != nil {
			return reports, err
		}
		rep := CacheReport{Split: name, Shards: len(sm.Shards), Rows: sm.Rows, CacheDirectory: filepath.Join(cacheDir, name)}
		built := make([]bool, len(sm.Shards))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(workers)
		for i, sh := range sm.Shards {
			g.Go(func() error {
				path := cachePath(cacheDir, name, sh)
				recs, unmap, err := mapCacheFile(path, sh, meta.SeqLen)
				if err == nil {
					for _, r := range recs {
						r.Release()
					}
					return unmap()
				}
				if !errors.Is(err, errStale) && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				built[i] = true
				return buildCacheFile(gctx, ds, name, sh, meta.SeqLen, path, mem)
			})
		}
		if err := g.Wait(); err != nil {
			return reports, err
		}
		for i, sh := range sm.Shards {
			if built[i] {
				rep.Built++
			}
			rep.ParquetBytes += sh.Bytes
			if fi, err := os.Stat(cachePath(cacheDir, name, sh)); err == nil {
				rep.Bytes += fi.Size()
			}
		}
		reports = append(reports, rep)
	}
	return reports, nil
}
