package interop

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/tinyrecursion/trm/dataset"
)

// shardBatch is a run of consecutive rows of a split, decoded from one
// shard: a record batch of the dataset schema.
type shardBatch struct {
	path string // the shard
	rec  arrow.RecordBatch
}

// batchRows is the number of rows pqarrow decodes at a time: small enough
// that the Go heap recycles the buffers of earlier batches (decoding a
// whole shard into fresh memory was dominated by page faults), large
// enough to amortise the per-batch work.
const batchRows = 4096

// eachBatch decodes the shards of a split in order, in record batches of
// at most batchRows rows, and calls fn with each. Decoding runs one batch
// ahead of fn in its own goroutine, so decoding and writing overlap with
// bounded memory. fn must not keep the batch: it is released when fn
// returns. The rows of every shard are counted against the manifest.
func eachBatch(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest, seqLen int, fn func(shardBatch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan shardBatch, 1)
	decoded := make(chan error, 1)
	go func() {
		defer close(ch)
		for _, sh := range split.Shards {
			if err := readShardBatches(ctx, ds.ShardPath(sh), sh.Rows, seqLen, ch); err != nil {
				decoded <- err
				return
			}
		}
		decoded <- nil
	}()
	var err error
	for b := range ch {
		if err == nil {
			if err = fn(b); err != nil {
				cancel() // stop decoding; keep releasing what was sent
			}
		}
		b.rec.Release()
	}
	if derr := <-decoded; err == nil {
		err = derr
	}
	return err
}

// readShardBatches decodes one shard, checks its schema and row count,
// and sends its record batches to ch.
func readShardBatches(ctx context.Context, path string, wantRows int64, seqLen int, ch chan<- shardBatch) error {
	rdr, err := file.OpenParquetFile(path, false, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rdr.Close()
	if rows := rdr.NumRows(); rows != wantRows {
		return fmt.Errorf("%s: %d rows, the manifest says %d", path, rows, wantRows)
	}
	fr, err := dataset.NewArrowReader(rdr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: batchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := dataset.CheckSchema(schema, seqLen); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		select {
		case ch <- shardBatch{path: path, rec: rec}:
		case <-ctx.Done():
			rec.Release()
			return ctx.Err()
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// splitHasAug reports whether any row of the split records a transform,
// reading only the aug column.
func splitHasAug(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest) (bool, error) {
	for _, sh := range split.Shards {
		found, err := shardHasAug(ctx, ds.ShardPath(sh))
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

func shardHasAug(ctx context.Context, path string) (bool, error) {
	rdr, err := file.OpenParquetFile(path, false, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	defer rdr.Close()
	fr, err := dataset.NewArrowReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	col := rdr.MetaData().Schema.ColumnIndexByName(dataset.ColAug)
	if col < 0 {
		return false, fmt.Errorf("%s: no %s column", path, dataset.ColAug)
	}
	groups := make([]int, rdr.NumRowGroups())
	for i := range groups {
		groups[i] = i
	}
	tbl, err := fr.ReadRowGroups(ctx, []int{col}, groups)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	defer tbl.Release()
	for _, chunk := range tbl.Column(0).Data().Chunks() {
		a, ok := chunk.(interface {
			Len() int
			ValueLen(int) int
		})
		if !ok {
			return false, fmt.Errorf("%s: column %s has type %s, want string", path, dataset.ColAug, chunk.DataType())
		}
		for i := range a.Len() {
			if a.ValueLen(i) > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}
