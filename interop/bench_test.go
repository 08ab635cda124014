package interop

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinyrecursion/trm/dataset"
)

// benchDataset writes an ARC-like dataset (900-token rows) with 4 MB shards
// and returns it with its token bytes (inputs + labels).
func benchDataset(b *testing.B) (*dataset.Dataset, int64) {
	b.Helper()
	td := arcLike(40, 30, 5)
	td.shardBytes = 4 << 20
	ds := td.write(b, filepath.Join(b.TempDir(), "ds"))
	var rows int64
	for _, s := range ds.Manifest.Splits {
		rows += s.Rows
	}
	return ds, rows
}

// fastest returns the shortest of three timed runs of f, in seconds: the
// baselines are measured in the benchmark's own run, and the minimum is
// the least disturbed by other work on the machine.
func fastest(b *testing.B, f func() error) float64 {
	b.Helper()
	best := 0.0
	for i := range 3 {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start).Seconds(); i == 0 || d < best {
			best = d
		}
	}
	return best
}

// decodeSeconds times decoding every shard, the floor under any export:
// the benchmarks report their time as a multiple of it.
func decodeSeconds(b *testing.B, ds *dataset.Dataset) float64 {
	return fastest(b, func() error {
		for i := range ds.Manifest.Splits {
			s := &ds.Manifest.Splits[i]
			if err := eachBatch(context.Background(), ds, s, ds.Meta[s.Name].SeqLen, func(shardBatch) error { return nil }); err != nil {
				return err
			}
		}
		return nil
	})
}

func reportThroughput(b *testing.B, rows, tokenBytes int64, baseline float64) {
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(rows)/per, "rows/s")
	b.ReportMetric(float64(tokenBytes)/per/1e6, "MB/s")
	b.ReportMetric(per/baseline, "x_baseline")
}

// BenchmarkExportNPY: the baseline is decoding the shards alone.
func BenchmarkExportNPY(b *testing.B) {
	ds, rows := benchDataset(b)
	base := decodeSeconds(b, ds)
	out := filepath.Join(b.TempDir(), "npy")
	b.ResetTimer()
	for range b.N {
		if _, err := ExportNPY(context.Background(), ds, out, NPYExportOptions{Force: true}); err != nil {
			b.Fatal(err)
		}
	}
	reportThroughput(b, rows, rows*2*900, base)
}

// BenchmarkExportArrow: the baseline is decoding the shards alone.
func BenchmarkExportArrow(b *testing.B) {
	ds, rows := benchDataset(b)
	base := decodeSeconds(b, ds)
	out := filepath.Join(b.TempDir(), "arrow")
	b.ResetTimer()
	for range b.N {
		if _, err := ExportArrow(context.Background(), ds, out, ArrowExportOptions{Force: true}); err != nil {
			b.Fatal(err)
		}
	}
	reportThroughput(b, rows, rows*2*900, base)
}

// BenchmarkImportNPY: the baseline is reading the .npy files once, without
// parsing or writing anything.
func BenchmarkImportNPY(b *testing.B) {
	ds, rows := benchDataset(b)
	ref := filepath.Join(b.TempDir(), "ref")
	if _, err := ExportNPY(context.Background(), ds, ref, NPYExportOptions{}); err != nil {
		b.Fatal(err)
	}
	base := fastest(b, func() error {
		return filepath.WalkDir(ref, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(io.Discard, f)
			return err
		})
	})
	out := filepath.Join(b.TempDir(), "ds")
	b.ResetTimer()
	for range b.N {
		if _, err := ImportNPY(context.Background(), ref, out, NPYImportOptions{Force: true, Workers: 2}); err != nil {
			b.Fatal(err)
		}
	}
	reportThroughput(b, rows, rows*2*900, base)
}
