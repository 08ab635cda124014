package loader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/tinyrecursion/trm/internal/procstat"
	"github.com/tinyrecursion/trm/pipeline"
)

// Benchmark sizes: big enough to leave the caches (about 35 MB of tokens
// each), small enough to generate in about a second.
const benchRowsARC, benchRowsSudoku = 20000, 200000

// BenchmarkLoader times training batches at global batch 768 from decoded
// Parquet and from the mapped IPC cache, and after each runs the plain
// gather baseline (BenchGather) for as many batches in the same process,
// reporting both and their ratio.
func BenchmarkLoader(b *testing.B) {
	dirs, err := BenchDatasets(b.TempDir(), benchRowsARC, benchRowsSudoku)
	if err != nil {
		b.Fatal(err)
	}
	benchLoaderVsBaseline(b, dirs, []string{"arc", "sudoku"})
}

// BenchmarkLoaderBuiltSets is BenchmarkLoader on the sets trm builds: the
// generated Sudoku set (trm build sudoku --generate 1000 --aug 1000,
// 1,001,000 rows) and ARC-AGI-1 with --aug 100 (398,601 rows, from
// ../shared/data/arc; skipped when absent), built in a few seconds before
// the first measurement.
func BenchmarkLoaderBuiltSets(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	dirs := map[string]string{"sudoku-1M": filepath.Join(dir, "sudoku"), "arc-agi-1": filepath.Join(dir, "arc")}
	out := func(dir string) pipeline.Output { return pipeline.Output{Dir: dir, Quiet: true} }
	if _, err := pipeline.BuildSudoku(ctx, pipeline.SudokuConfig{Generate: 1000, GenerateTest: 100, Aug: 1000}, out(dirs["sudoku-1M"])); err != nil {
		b.Fatal(err)
	}
	kinds := []string{"sudoku-1M"}
	arc, err := filepath.Abs("../../shared/data/arc")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(arc, "arc-agi_training_challenges.json")); err != nil {
		b.Logf("ARC-AGI-1 skipped: its JSON files are not at %s (the repository's sibling shared/data/arc)", arc)
	} else {
		cfg := pipeline.ARCConfig{InputPrefix: filepath.Join(arc, "arc-agi"), Subsets: []string{"training", "evaluation", "concept"},
			TestSets: []string{"evaluation"}, Aug: 100, Seed: 42, IdentifiersStart: 1}
		if _, err := pipeline.BuildARC(ctx, cfg, out(dirs["arc-agi-1"])); err != nil {
			b.Fatal(err)
		}
		kinds = append(kinds, "arc-agi-1")
	}
	benchLoaderVsBaseline(b, dirs, kinds)
}

// benchLoaderVsBaseline runs, for each kind's dataset in dirs, the loader
// from decoded Parquet and from the IPC cache (built first), each followed
// by the baseline.
func benchLoaderVsBaseline(b *testing.B, dirs map[string]string, kinds []string) {
	ctx := context.Background()
	for _, kind := range kinds {
		if _, err := BuildCache(ctx, dirs[kind], "", nil, 2); err != nil {
			b.Fatal(err)
		}
		for _, storage := range []Storage{Parquet, Cache} {
			b.Run(kind+"/"+storage.String(), func(b *testing.B) {
				l, flat, rows := benchLoader(b, dirs[kind], storage)
				src := l.src
				first, err := l.Next(ctx) // starts the pipeline
				if err != nil {
					b.Fatal(err)
				}
				bytesPer := len(first.Inputs) + len(first.Labels)
				first.Release()
				b.SetBytes(int64(bytesPer))
				b.ResetTimer()
				cpu0 := procstat.CPUTime()
				for b.Loop() {
					bt, err := l.Next(ctx)
					if err != nil {
						b.Fatal(err)
					}
					bt.Release()
				}
				reportVsBaseline(b, flat, rows, src.Meta.SeqLen, float64(bytesPer), cpu0)
			})
		}
	}
}

// benchLoader opens the train split of dir from storage and returns a
// training loader at global batch 768 over it, with the split's first set
// as one matrix for the baseline (see flatten); all is released when b ends.
func benchLoader(b *testing.B, dir string, storage Storage) (l *Loader, flat []byte, rows int64) {
	src, err := Open(context.Background(), []string{dir}, "train", OpenOptions{Storage: storage})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	flat, rows, free, err := flatten(src)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { free() })
	if l, err = New(src, Config{Sampler: Train, GlobalBatch: 768, Workers: 2}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l, flat, rows
}

// reportVsBaseline ends the timed loop of b, which moved bytesPer token bytes
// per batch from process CPU time cpu0 on, runs the plain gather baseline
// (BenchGather) for as many batches, and reports both and their ratios.
func reportVsBaseline(b *testing.B, flat []byte, rows int64, seqLen int, bytesPer float64, cpu0 time.Duration) {
	sec := b.Elapsed().Seconds()
	cpu := (procstat.CPUTime() - cpu0).Seconds() / float64(b.N)
	b.StopTimer()
	gbps := float64(b.N) * bytesPer / sec / 1e9
	nb := max(b.N, 50)
	cpu0 = procstat.CPUTime()
	base := float64(nb) * bytesPer / BenchGather(flat, rows, seqLen, 768, nb, 2) / 1e9
	baseCPU := (procstat.CPUTime() - cpu0).Seconds() / float64(nb)
	b.ReportMetric(float64(b.N)/sec, "batches/s")
	b.ReportMetric(gbps, "GB/s")
	b.ReportMetric(base, "baseline-GB/s")
	b.ReportMetric(gbps/base, "ratio")
	// Process CPU time per batch does not depend on what else runs on the
	// machine.
	b.ReportMetric(cpu*1e6, "cpu-µs/batch")
	b.ReportMetric(baseCPU/cpu, "cpu-ratio")
}

// BenchmarkOpen times opening a split: hashing and decoding the Parquet
// shards, or mapping the IPC cache. GB/s counts Parquet file bytes.
func BenchmarkOpen(b *testing.B) {
	dirs, err := BenchDatasets(b.TempDir(), benchRowsARC, benchRowsSudoku)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, kind := range []string{"arc", "sudoku"} {
		if _, err := BuildCache(ctx, dirs[kind], "", nil, 2); err != nil {
			b.Fatal(err)
		}
		for _, storage := range []Storage{Parquet, Cache} {
			b.Run(kind+"/"+storage.String(), func(b *testing.B) {
				var bytes int64
				for b.Loop() {
					src, err := Open(ctx, []string{dirs[kind]}, "train", OpenOptions{Storage: storage})
					if err != nil {
						b.Fatal(err)
					}
					bytes = src.Bytes
					src.Close()
				}
				b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkSampler times the reference training sampler alone (plans, no
// gathering) at global batch 768: the single-goroutine part of the
// pipeline, which bounds the loader on Sudoku where every puzzle has one
// example and each row costs a Philox draw, a legacy choice and a random
// index lookup.
func BenchmarkSampler(b *testing.B) {
	dirs, err := BenchDatasets(b.TempDir(), benchRowsARC, benchRowsSudoku)
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"arc", "sudoku"} {
		b.Run(kind, func(b *testing.B) {
			src, err := Open(context.Background(), []string{dirs[kind]}, "train", OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			cfg := Config{Sampler: Train, GlobalBatch: 768, WorldSize: 1, EpochsPerIter: 1}
			s, err := newSampler(src, cfg)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
			b.ReportMetric(float64(b.N)*768/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkGather times the gatherers alone: two goroutines gathering
// plans drawn beforehand by the training sampler into pooled buffers, with
// no sampling and no hand-offs, next to the plain gather baseline. With
// BenchmarkSampler and BenchmarkLoader it splits the loader's cost: the
// gathering itself, the sequential sampler, and what running both on the
// same cores adds.
func BenchmarkGather(b *testing.B) {
	dirs, err := BenchDatasets(b.TempDir(), benchRowsARC, benchRowsSudoku)
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"arc", "sudoku"} {
		b.Run(kind, func(b *testing.B) {
			l, flat, rows := benchLoader(b, dirs[kind], Parquet)
			src := l.src
			plans, err := drawPlans(l, min(b.N, 1<<14)) // rows not revisited while still cached
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := procstat.CPUTime()
			b.ResetTimer()
			if _, err := timeGatherOnly(l, plans, b.N, 2); err != nil {
				b.Fatal(err)
			}
			reportVsBaseline(b, flat, rows, src.Meta.SeqLen, float64(768*2*src.Meta.SeqLen), cpu0)
		})
	}
}

// TestBench runs the loader benchmark on a small generated set and checks
// the shape of its report: every measurement timed, ratios against the
// baseline, no byte rate for the sampler alone.
func TestBench(t *testing.T) {
	dir := t.TempDir() + "/sudoku"
	if err := GenerateBenchDataset(dir, BenchSudoku, 3000, 1); err != nil {
		t.Fatal(err)
	}
	// A stand-in device: it checks that every batch arrives in a buffer from
	// its allocator and copies it.
	al := &countingAllocator{live: map[*byte]bool{}}
	var device []byte
	uploads := 0
	upload := func(buf []byte) error {
		al.mu.Lock()
		defer al.mu.Unlock()
		if !al.live[unsafe.SliceData(buf)] {
			return errors.New("a batch buffer the device's allocator did not hand out")
		}
		device = append(device[:0], buf...)
		uploads++
		return nil
	}
	res, err := Bench(context.Background(), dir, BenchConfig{GlobalBatch: 64, Batches: 5, Rounds: 2,
		Device: &BenchDevice{Name: "cache -> device", Allocator: al, Upload: upload}})
	if err != nil {
		t.Fatal(err)
	}
	// Two rounds of a warm-up and 5 batches, through the loader and alone.
	if uploads != 2*2*(5+1) || len(device) < 64*2*81 {
		t.Errorf("%d uploads of %d bytes, want 24, each at least %d bytes", uploads, len(device), 64*2*81)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Name)
		if r.Batches != 5 || r.BatchesPerSec <= 0 || r.CPUPerBatch <= 0 {
			t.Errorf("%s: %d batches at %.0f/s, %v CPU each", r.Name, r.Batches, r.BatchesPerSec, r.CPUPerBatch)
		}
		if (r.GBps == 0) != (r.Name == samplerOnly) || (r.Name != samplerOnly && r.Ratio <= 0) {
			t.Errorf("%s: %.3f GB/s, ratio %.2f", r.Name, r.GBps, r.Ratio)
		}
		if (r.OpenSeconds > 0) != (r.Name == "parquet" || r.Name == "cache") {
			t.Errorf("%s: opening took %.3f s", r.Name, r.OpenSeconds)
		}
	}
	if want := []string{"parquet", "cache", "cache -> device", copyOnly, gatherOnly, samplerOnly, baseline}; !slices.Equal(names, want) {
		t.Errorf("measurements %v, want %v", names, want)
	}
	if base := res[len(res)-1]; base.Ratio != 1 || base.CPURatio != 1 {
		t.Errorf("baseline ratios %.2f, %.2f", base.Ratio, base.CPURatio)
	}
}

// TestBenchDeviceError: a failed upload ends the benchmark with its error.
func TestBenchDeviceError(t *testing.T) {
	dir := t.TempDir() + "/sudoku"
	if err := GenerateBenchDataset(dir, BenchSudoku, 600, 1); err != nil {
		t.Fatal(err)
	}
	errDevice := errors.New("device lost")
	_, err := Bench(context.Background(), dir, BenchConfig{GlobalBatch: 64, Batches: 3, Rounds: 1,
		Device: &BenchDevice{Name: "cache -> device", Allocator: AlignedAllocator{}, Upload: func([]byte) error { return errDevice }}})
	if !errors.Is(err, errDevice) {
		t.Fatalf("Bench with a failing device: %v, want %v", err, errDevice)
	}
}
