package loader

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/procstat"
)

// BenchKind is the shape of a generated benchmark dataset.
type BenchKind struct {
	Name          string
	Shape         [2]int // grid; seq_len = Shape[0]*Shape[1]
	Vocab         int
	PuzzlesPerGrp int
	MinEx, MaxEx  int // examples per puzzle
}

// Benchmark dataset shapes: ARC-AGI rows of 900 tokens in groups of 4
// augmented puzzles with 3-6 examples (the reference averages 4.2), and
// Sudoku rows of 81 tokens, one example per puzzle.
var (
	BenchARC    = BenchKind{Name: "arc", Shape: [2]int{30, 30}, Vocab: 12, PuzzlesPerGrp: 4, MinEx: 3, MaxEx: 6}
	BenchSudoku = BenchKind{Name: "sudoku", Shape: [2]int{9, 9}, Vocab: 11, PuzzlesPerGrp: 8, MinEx: 1, MaxEx: 1}
)

// GenerateBenchDataset writes a dataset of about rows random examples of
// the given kind (split "train") into dir.
func GenerateBenchDataset(dir string, kind BenchKind, rows int, seed uint64) error {
	w, err := dataset.Create(dir, dataset.Options{Force: true, Workers: 2,
		Builder: dataset.Builder{Name: "loader-bench-" + kind.Name, Seed: int64(seed), Config: []byte("{}")}})
	if err != nil {
		return err
	}
	defer w.Abort()
	seqLen := kind.Shape[0] * kind.Shape[1]
	s, err := w.CreateSplit(dataset.SplitSpec{Name: "train", VocabSize: kind.Vocab, GridShape: kind.Shape})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	g := &dataset.Group{}
	id := int32(1)
	for written := 0; written < rows; {
		g.Reset()
		for range kind.PuzzlesPerGrp {
			n := kind.MinEx + rng.IntN(kind.MaxEx-kind.MinEx+1)
			for range n * seqLen {
				v := rng.Uint32()
				g.Inputs = append(g.Inputs, byte((v&0xffff)%uint32(kind.Vocab)))
				g.Labels = append(g.Labels, byte((v>>16)%uint32(kind.Vocab)))
			}
			g.AddPuzzle(n, id, "")
			id++
			written += n
		}
		if err := s.WriteGroup(g); err != nil {
			return err
		}
	}
	st := s.Stats()
	meta := dataset.Metadata{IgnoreLabelID: dataset.IntPtr(0), VocabSize: kind.Vocab, SeqLen: seqLen, NumPuzzleIdentifiers: int(id),
		TotalGroups: int(st.Groups), TotalPuzzles: int(st.Puzzles), MeanPuzzleExamples: float64(st.Rows) / float64(st.Puzzles), Sets: []string{"all"}}
	if err := s.Close(meta); err != nil {
		return err
	}
	return w.Commit()
}

// BenchConfig configures Bench.
type BenchConfig struct {
	Split             string // "" is train
	GlobalBatch       int    // 0 is 768
	Batches           int    // batches timed per measurement and round (0: 300)
	Rounds            int    // interleaved rounds; the best is reported (0: 5)
	Workers, Prefetch int    // loader settings (0: the loader's defaults)
	// Device, when set, adds a measurement of batches delivered to a device.
	Device *BenchDevice
}

// BenchDevice describes the device leg of a trainer's input: the cache's
// loader gathers into buffers from Allocator (pinned host memory, for a
// GPU), and every batch's Buffer goes to Upload, which copies it to the
// device and returns once the copy is done, before the batch is released.
type BenchDevice struct {
	Name      string // the measurement's name, e.g. "cache -> NVIDIA H200"
	Allocator Allocator
	Upload    func(buf []byte) error
}

// BenchResult is one measurement. GBps counts the token bytes (inputs and
// labels) delivered per second.
type BenchResult struct {
	Name          string  // "parquet", "cache", BenchDevice.Name, copyOnly, gatherOnly, samplerOnly or baseline
	OpenSeconds   float64 // opening the split (Parquet: hash + decode; cache: map)
	OpenGBps      float64 // Parquet file bytes per second of opening
	OpenTokenGBps float64 // token bytes made available per second of opening
	Batches       int
	BatchesPerSec float64
	GBps          float64 // 0 for the sampler alone, which moves no bytes
	Ratio         float64 // GBps over the baseline's
	// CPUPerBatch is the process CPU time per batch (all goroutines:
	// sampler, gatherers, consumer, runtime), the least over the rounds;
	// CPURatio is the baseline's over this one: the share of the
	// baseline's efficiency reached, whatever else loads the machine.
	CPUPerBatch time.Duration
	CPURatio    float64
}

// Bench measures the loader on the dataset in dir: opening from Parquet
// and from the IPC cache (built first if needed), then training batches at
// the global batch from each, next to a plain gather of random rows from
// one contiguous matrix into a plain buffer with as many goroutines as the
// loader's gatherers: the bound a one-copy loader can reach. With
// cfg.Device, batches from the cache also go to a device (BenchDevice),
// which shows what the copy adds to the loader's own time, and uploads of
// one batch buffer over and over time the copy alone. Two more
// measurements split the loader's cost: its gatherers alone on plans drawn
// beforehand ("gather only", from the cache), and the training sampler
// alone, which runs on one goroutine ("sampler only"). All are timed in
// interleaved rounds and the best round of each is reported, so that load
// from other processes affects them alike.
func Bench(ctx context.Context, dir string, cfg BenchConfig) ([]BenchResult, error) {
	if cfg.Split == "" {
		cfg.Split = "train"
	}
	if cfg.GlobalBatch == 0 {
		cfg.GlobalBatch = 768
	}
	if cfg.Batches == 0 {
		cfg.Batches = 300
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 5
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if _, err := BuildCache(ctx, dir, "", []string{cfg.Split}, cfg.Workers); err != nil {
		return nil, err
	}
	var (
		out     []BenchResult
		loaders []*Loader
		copyBuf []byte // one batch buffer from the device's allocator
		// deviceAt is the index of the device measurement (-1: none),
		// whatever name the caller gave it.
		deviceAt = -1
		flat     []byte
		seqLen   int
		rows     int64
	)
	defer func() {
		for _, l := range loaders {
			l.Close()
			l.src.Close()
		}
	}()
	for _, storage := range []Storage{Parquet, Cache} {
		t0 := time.Now()
		src, err := Open(ctx, []string{dir}, cfg.Split, OpenOptions{Storage: storage})
		if err != nil {
			return nil, err
		}
		open := time.Since(t0).Seconds()
		var tokens int64
		for _, p := range src.Parts {
			tokens += p.Rows() * int64(2*src.Meta.SeqLen)
		}
		out = append(out, BenchResult{Name: storage.String(), OpenSeconds: open, OpenGBps: float64(src.Bytes) / open / 1e9,
			OpenTokenGBps: float64(tokens) / open / 1e9})
		if flat == nil {
			seqLen = src.Meta.SeqLen
			var free func() error
			if flat, rows, free, err = flatten(src); err != nil {
				src.Close()
				return nil, err
			}
			defer free()
		}
		l, err := New(src, Config{Sampler: Train, GlobalBatch: cfg.GlobalBatch, Workers: cfg.Workers, Prefetch: cfg.Prefetch})
		if err != nil {
			src.Close()
			return nil, err
		}
		loaders = append(loaders, l)
	}
	cached := loaders[len(loaders)-1]
	if d := cfg.Device; d != nil {
		src, err := Open(ctx, []string{dir}, cfg.Split, OpenOptions{Storage: Cache})
		if err != nil {
			return nil, err
		}
		l, err := New(src, Config{Sampler: Train, GlobalBatch: cfg.GlobalBatch, Workers: cfg.Workers, Prefetch: cfg.Prefetch,
			Allocator: d.Allocator})
		if err != nil {
			src.Close()
			return nil, err
		}
		loaders = append(loaders, l)
		buf, err := d.Allocator.Alloc(l.BatchBytes())
		if err != nil {
			return nil, err
		}
		defer d.Allocator.Free(buf)
		copyBuf = buf
		deviceAt = len(out)
		out = append(out, BenchResult{Name: d.Name}, BenchResult{Name: copyOnly})
	}
	// As many plans as batches timed: cycling through fewer would revisit
	// rows still in the caches.
	plans, err := drawPlans(cached, cfg.Batches)
	if err != nil {
		return nil, err
	}
	smp, err := newSampler(cached.src, cached.cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, BenchResult{Name: gatherOnly}, BenchResult{Name: samplerOnly}, BenchResult{Name: baseline})
	bytesPer := float64(cfg.GlobalBatch * 2 * seqLen)
	for range cfg.Rounds {
		for i := range out {
			var sec float64
			cpu0 := procstat.CPUTime()
			switch out[i].Name {
			case gatherOnly:
				if sec, err = timeGatherOnly(cached, plans, cfg.Batches, cfg.Workers); err != nil {
					return nil, err
				}
			case copyOnly:
				if sec, err = timeUploads(copyBuf, cfg.Batches, cfg.Device.Upload); err != nil {
					return nil, err
				}
			case samplerOnly:
				if sec, err = timeSampler(smp, cfg.Batches); err != nil {
					return nil, err
				}
			case baseline:
				sec = BenchGather(flat, rows, seqLen, cfg.GlobalBatch, cfg.Batches, cfg.Workers)
			default:
				var upload func([]byte) error
				if i == deviceAt {
					upload = cfg.Device.Upload
				}
				if sec, err = timeLoader(ctx, loaders[i], cfg.Batches, upload); err != nil {
					return nil, err
				}
			}
			cpu := (procstat.CPUTime() - cpu0) / time.Duration(cfg.Batches)
			if bps := float64(cfg.Batches) / sec; bps > out[i].BatchesPerSec {
				out[i].Batches = cfg.Batches
				out[i].BatchesPerSec = bps
				if out[i].Name != samplerOnly { // it plans batches, it moves no bytes
					out[i].GBps = bps * bytesPer / 1e9
				}
			}
			if out[i].CPUPerBatch == 0 || cpu < out[i].CPUPerBatch {
				out[i].CPUPerBatch = cpu
			}
		}
	}
	base := out[len(out)-1]
	for i := range out {
		if out[i].Name == samplerOnly {
			continue
		}
		out[i].Ratio = out[i].GBps / base.GBps
		if out[i].CPUPerBatch > 0 {
			out[i].CPURatio = float64(base.CPUPerBatch) / float64(out[i].CPUPerBatch)
		}
	}
	return out, nil
}

// timeLoader returns the seconds n batches take, the pipeline being
// started beforehand; each batch's buffer goes to upload first, if given.
func timeLoader(ctx context.Context, l *Loader, n int, upload func([]byte) error) (float64, error) {
	var t0 time.Time
	for i := -1; i < n; i++ {
		if i == 0 {
			t0 = time.Now()
		}
		b, err := l.Next(ctx)
		if err != nil {
			return 0, err
		}
		if upload != nil {
			err = upload(b.Buffer())
		}
		b.Release()
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0).Seconds(), nil
}

// timeUploads returns the seconds n uploads of buf take, after one
// untimed: the device leg alone, at the batch's size.
func timeUploads(buf []byte, n int, upload func([]byte) error) (float64, error) {
	if err := upload(buf); err != nil {
		return 0, err
	}
	t0 := time.Now()
	for range n {
		if err := upload(buf); err != nil {
			return 0, err
		}
	}
	return time.Since(t0).Seconds(), nil
}

// The names of the measurements that are not a loader: the device copies
// alone (with BenchConfig.Device), its gatherers alone, its sampler alone,
// and the plain gather baseline (last, the one the others are compared
// with).
const (
	copyOnly    = "copy only"
	gatherOnly  = "gather only"
	samplerOnly = "sampler only"
	baseline    = "baseline"
)

// drawPlans draws n training plans for l's source and configuration with a
// sampler of its own.
func drawPlans(l *Loader, n int) ([]*plan, error) {
	smp, err := newSampler(l.src, l.cfg)
	if err != nil {
		return nil, err
	}
	plans := make([]*plan, n)
	for i := range plans {
		if plans[i], err = smp.next(); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// timeGatherOnly returns the seconds workers goroutines take to gather n
// batches of plans (cycled) into buffers recycled through a pool as the
// loader's are, taking batches in turn: the loader without its sampler and
// hand-offs.
func timeGatherOnly(l *Loader, plans []*plan, n, workers int) (float64, error) {
	p := newPool(l.cfg.Allocator, l.lay.size, l.cfg.Prefetch+1+l.cfg.Hold)
	defer p.close()
	var next atomic.Int64
	var g errgroup.Group
	t0 := time.Now()
	for range workers {
		g.Go(func() error {
			recs := make([][]byte, l.lay.rows)
			for k := next.Add(1) - 1; k < int64(n); k = next.Add(1) - 1 {
				buf, err := p.get(nil) // never waits: each goroutine holds one buffer at most
				if err != nil {
					return err
				}
				l.gather(plans[k%int64(len(plans))], buf, recs)
				p.put(buf)
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(t0).Seconds(), err
}

// timeSampler returns the seconds smp takes to plan n batches.
func timeSampler(smp *sampler, n int) (float64, error) {
	t0 := time.Now()
	for range n {
		pl, err := smp.next()
		if err != nil {
			return 0, err
		}
		smp.recycle(pl)
	}
	return time.Since(t0).Seconds(), nil
}

// flatten copies a source's first part into one contiguous
// [rows, 2*seq_len] matrix (inputs then labels per row) for the baseline,
// in the same huge-page memory the Parquet path decodes into, so that the
// baseline is the best case. free releases it.
func flatten(src *Source) (flat []byte, rows int64, free func() error, err error) {
	p := src.Parts[0]
	n := src.Meta.SeqLen
	out, free, err := allocLarge(int(p.Rows()) * 2 * n)
	if err != nil {
		return nil, 0, nil, err
	}
	for r := range p.Rows() {
		copy(out[int(r)*2*n:(int(r)+1)*2*n], p.store.record(p.base+r))
	}
	return out, p.Rows(), free, nil
}

// BenchGather is the baseline: batches of batch random rows gathered from
// the contiguous matrix flat ([rows, 2*seqLen]) into plain buffers by
// workers goroutines taking batches in turn. It returns the seconds taken.
func BenchGather(flat []byte, rows int64, seqLen, batch, batches, workers int) float64 {
	row := 2 * seqLen
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			buf := make([]byte, batch*row)
			idx := make([]int64, batch)
			for k := w; k < batches; k += workers {
				for i := range idx {
					idx[i] = rng.Int64N(rows)
				}
				for i, r := range idx {
					copy(buf[i*row:(i+1)*row], flat[r*int64(row):(r+1)*int64(row)])
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0).Seconds()
}

// BenchDatasets generates the benchmark datasets (ARC- and Sudoku-shaped,
// about rowsARC and rowsSudoku examples) under dir, reusing ones already
// there, and returns their paths by kind name.
func BenchDatasets(dir string, rowsARC, rowsSudoku int) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range []struct {
		kind BenchKind
		rows int
	}{{BenchARC, rowsARC}, {BenchSudoku, rowsSudoku}} {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d", k.kind.Name, k.rows))
		if _, err := dataset.Open(path); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			if err := GenerateBenchDataset(path, k.kind, k.rows, 1); err != nil {
				return nil, err
			}
		}
		out[k.kind.Name] = path
	}
	return out, nil
}
