package interop

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"

	"github.com/tinyrecursion/trm/dataset"
)

// decodedShard is one shard of a split, decoded.
type decodedShard struct {
	path string
	meta dataset.Shard
	data *dataset.ShardData
}

// eachShard decodes the shards of a split in order and calls fn with each.
// The next shard is decoded while fn works on the current one, so decoding
// and writing overlap while at most two shards are in memory. fn must not
// keep the shard's data: it is released when fn returns.
func eachShard(ctx context.Context, ds *dataset.Dataset, split *dataset.SplitManifest, seqLen int, mem memory.Allocator, fn func(*decodedShard) error) error {
	g, ctx := errgroup.WithContext(ctx)
	ch := make(chan *decodedShard)
	g.Go(func() error {
		defer close(ch)
		for _, sh := range split.Shards {
			path := ds.ShardPath(sh)
			data, err := dataset.ReadShard(ctx, path, seqLen, mem)
			if err != nil {
				return err
			}
			select {
			case ch <- &decodedShard{path: path, meta: sh, data: data}:
			case <-ctx.Done():
				data.Release()
				return ctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		// An error here cancels ctx, which stops the decoder (the channel is
		// unbuffered, so no decoded shard is left behind unreleased).
		for s := range ch {
			var err error
			if s.data.Table.NumRows() != s.meta.Rows {
				err = fmt.Errorf("%s: %d rows, the manifest says %d", s.path, s.data.Table.NumRows(), s.meta.Rows)
			} else {
				err = fn(s)
			}
			s.data.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
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
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
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
