package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"unsafe"

	"github.com/tinyrecursion/trm/internal/prefetch"
)

// Config configures a Loader.
type Config struct {
	Sampler Sampler
	// GlobalBatch is the number of examples per step over all ranks; each
	// rank's batches have GlobalBatch/WorldSize rows.
	GlobalBatch int
	// Rank and WorldSize place this loader in a data-parallel job
	// (WorldSize 0 means 1). In shard-local mode they must match the
	// Source's.
	Rank, WorldSize int
	// Seed is the reference's config.seed: pass k of set j uses Philox seed
	// Seed + (k-1)*sets + j + 1, and the choice of examples within a puzzle
	// the legacy stream of a DataLoader worker after
	// torch.manual_seed(Seed + Rank).
	Seed int64
	// EpochsPerIter is the number of epochs in one training pass (the
	// reference's eval_interval); 0 means 1.
	EpochsPerIter int
	// Passes is the number of passes before Next returns io.EOF; 0 is
	// unbounded for Train and Shuffle and means 1 for Eval.
	Passes int
	// SameChoiceOnAllRanks seeds the example choice identically on every
	// rank, so that the ranks' slices are one consistent global batch; the
	// reference seeds it per rank (quirk Q-L3).
	SameChoiceOnAllRanks bool
	// ChoiceSeedWords, when set, seeds the legacy stream of the example
	// choice with these init_by_array words instead. The default assumes,
	// as spec/loader-golden.json does, that torch.manual_seed(Seed + Rank)
	// was the last use of torch's CPU generator before the reference
	// DataLoader started its worker; in pretrain.py model initialisation
	// draws from it first (quirk Q-L1), so to follow a real reference run
	// pass nprand.TorchWorkerSeedWords(its logged base_seed, 0). The group
	// order and puzzle choice (Philox) never depend on PyTorch.
	ChoiceSeedWords *[4]uint32
	// Prefetch is the number of batches assembled ahead (0: 4); Workers
	// the goroutines gathering them (0: 2); Hold the number of batches the
	// caller may keep unreleased at once without stalling the loader (0: 2).
	// The loader allocates at most Prefetch+1+Hold batch buffers.
	Prefetch, Workers, Hold int
	// Allocator provides the batch buffers (nil: AlignedAllocator).
	Allocator Allocator
}

// Loader yields one rank's batches in order, assembling them in the
// background. Next, State, Restore and Close must not be called
// concurrently; batches may be used and released from any goroutine.
type Loader struct {
	src   *Source
	cfg   Config
	smp   *sampler
	lay   layout
	pool  *pool
	state State // position after the last batch returned
	eof   bool

	running bool
	stop    chan struct{}
	order   chan *job
	wg      sync.WaitGroup
	closed  bool
}

// job is one batch on its way: the planner queues it in order and hands
// its plan to whichever gatherer is free, which delivers on done.
type job struct {
	pl    *plan
	state State // pl.state, kept here because pl is recycled once gathered
	err   error // ends the sequence (io.EOF after the last pass) instead of a batch
	done  chan result
}

type result struct {
	b   *Batch
	err error
}

// New returns a loader over src. It checks the configuration against the
// source (a global batch not divisible by the world size, a rank outside
// it, a source too small for one batch) before any batch is made.
func New(src *Source, cfg Config) (*Loader, error) {
	if cfg.WorldSize == 0 {
		cfg.WorldSize = 1
	}
	if cfg.EpochsPerIter == 0 {
		cfg.EpochsPerIter = 1
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 4
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 2
	}
	if cfg.Allocator == nil {
		cfg.Allocator = AlignedAllocator{}
	}
	switch {
	case cfg.Sampler < Train || cfg.Sampler > Shuffle:
		return nil, fmt.Errorf("loader: unknown sampler %d", cfg.Sampler)
	case cfg.GlobalBatch <= 0:
		return nil, fmt.Errorf("loader: global batch %d must be positive", cfg.GlobalBatch)
	case cfg.WorldSize < 0 || cfg.Rank < 0 || cfg.Rank >= cfg.WorldSize:
		return nil, fmt.Errorf("loader: rank %d outside world size %d", cfg.Rank, cfg.WorldSize)
	case cfg.GlobalBatch%cfg.WorldSize != 0:
		return nil, fmt.Errorf("loader: global batch %d is not divisible by the world size %d", cfg.GlobalBatch, cfg.WorldSize)
	case cfg.EpochsPerIter < 0 || cfg.Passes < 0:
		return nil, fmt.Errorf("loader: negative epochs per iteration or passes")
	case cfg.Seed < 0:
		return nil, fmt.Errorf("loader: seed %d must not be negative (numpy rejects it)", cfg.Seed)
	case src.shardLocal && (src.rank != cfg.Rank || src.worldSize != cfg.WorldSize):
		return nil, fmt.Errorf("loader: the source holds the shards of rank %d of %d, the loader is rank %d of %d",
			src.rank, src.worldSize, cfg.Rank, cfg.WorldSize)
	}
	smp, err := newSampler(src, cfg)
	if err != nil {
		return nil, err
	}
	l := &Loader{src: src, cfg: cfg, smp: smp, lay: newLayout(cfg.GlobalBatch/cfg.WorldSize, src.Meta.SeqLen)}
	l.pool = newPool(cfg.Allocator, l.lay.size, cfg.Prefetch+1+cfg.Hold)
	l.state = smp.snapshot()
	return l, nil
}

// LocalBatch is the number of rows of every batch.
func (l *Loader) LocalBatch() int { return l.lay.rows }

// BatchBytes is the size of one batch buffer.
func (l *Loader) BatchBytes() int { return l.lay.size }

// Next returns the next batch, or io.EOF after the last pass.
func (l *Loader) Next(ctx context.Context) (*Batch, error) {
	if l.closed {
		return nil, errClosed
	}
	if l.eof {
		return nil, io.EOF
	}
	if !l.running {
		if err := l.start(); err != nil {
			return nil, err
		}
	}
	var j *job
	select {
	case j = <-l.order:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if j.err != nil {
		if errors.Is(j.err, io.EOF) {
			l.eof = true
		}
		l.stopPipeline()
		return nil, j.err
	}
	var r result
	select {
	case r = <-j.done:
	case <-ctx.Done():
		// The job has left the queue, so stopPipeline cannot recycle its
		// batch: do it here. The next call restarts from l.state.
		l.stopPipeline()
		select {
		case r := <-j.done:
			if r.b != nil {
				r.b.Release()
			}
		default:
		}
		return nil, ctx.Err()
	}
	if r.err != nil {
		l.stopPipeline()
		return nil, r.err
	}
	l.state = j.state
	return r.b, nil
}

// State returns the position after the last batch Next returned.
func (l *Loader) State() State { return l.state }

// Restore continues from a State taken from a loader with the same source
// and configuration: the following batches are exactly those that loader
// would have returned next.
func (l *Loader) Restore(st State) error {
	if l.closed {
		return errClosed
	}
	l.stopPipeline()
	if err := l.smp.restore(st); err != nil {
		_ = l.smp.restore(l.state)
		return err
	}
	l.state = st
	l.eof = false
	return nil
}

// Close stops the background work and frees the pooled buffers. Batches
// still held stay valid until released. The Source is not closed.
func (l *Loader) Close() error {
	if l.closed {
		return nil
	}
	l.stopPipeline()
	l.closed = true
	return l.pool.close()
}

// start launches the planner and the gatherers from l.state.
func (l *Loader) start() error {
	if err := l.smp.restore(l.state); err != nil {
		return err
	}
	l.stop = make(chan struct{})
	l.order = make(chan *job, l.cfg.Prefetch)
	jobs := make(chan *job, l.cfg.Workers)
	l.running = true
	l.wg.Add(1 + l.cfg.Workers)
	go l.planner(l.stop, l.order, jobs)
	for range l.cfg.Workers {
		go l.gatherer(l.stop, jobs)
	}
	return nil
}

// stopPipeline ends the background goroutines and recycles the batches
// they had assembled ahead.
func (l *Loader) stopPipeline() {
	if !l.running {
		return
	}
	close(l.stop)
	l.wg.Wait()
	for j := range l.order {
		if j.done == nil {
			continue
		}
		select {
		case r := <-j.done:
			if r.b != nil {
				r.b.Release()
			}
		default:
		}
	}
	l.running = false
}

// planner runs the sampler ahead of the consumer. It holds one plan back
// to learn whether it is the last of its pass.
func (l *Loader) planner(stop chan struct{}, order chan<- *job, jobs chan<- *job) {
	defer l.wg.Done()
	defer close(order)
	defer close(jobs)
	emit := func(j *job) bool {
		select {
		case order <- j:
		case <-stop:
			return false
		}
		if j.done != nil {
			select {
			case jobs <- j:
			case <-stop:
				return false
			}
		}
		return true
	}
	var prev *job
	for {
		pl, err := l.smp.next()
		if err != nil {
			if prev != nil {
				prev.pl.last = true
				if !emit(prev) {
					return
				}
			}
			emit(&job{err: err})
			return
		}
		j := &job{pl: pl, state: pl.state, done: make(chan result, 1)}
		if prev != nil {
			prev.pl.last = prev.pl.pass != pl.pass
			if !emit(prev) {
				return
			}
		}
		prev = j
	}
}

// gatherer assembles the batches of the jobs it takes.
func (l *Loader) gatherer(stop chan struct{}, jobs <-chan *job) {
	defer l.wg.Done()
	recs := make([][]byte, l.lay.rows)
	for j := range jobs {
		buf, err := l.pool.get(stop)
		if err != nil {
			j.done <- result{err: err}
			if errors.Is(err, errClosed) {
				return
			}
			continue
		}
		b := l.gather(j.pl, buf, recs)
		l.smp.recycle(j.pl)
		j.done <- result{b: b}
		// Let the goroutines this batch readied (the consumer, the
		// planner waiting to queue the next plan) run now on this core.
		// Go does not time-slice at this grain (it preempts after 10 ms),
		// so with gatherers on every core they would wait until one
		// blocks: on two cores, 20,600 -> 26,400 Sudoku batches/s.
		runtime.Gosched()
	}
}

// gatherAhead is how many rows ahead of the one being copied gather asks
// the CPU to fetch: far enough to cover a trip to main memory, near enough
// that the fetched lines are still cached when their turn comes (the best
// of 4, 8, 16 and 32 for Sudoku's 166-byte records).
const gatherAhead = 16

// gather copies the plan's rows from the Arrow buffers into buf, padding
// the rest of the batch. recs is scratch for the plan's records.
func (l *Loader) gather(pl *plan, buf []byte, recs [][]byte) *Batch {
	meta := &l.src.Meta
	p := l.src.Parts[pl.part]
	b := &Batch{Set: p.Name, Pass: pl.pass, Index: pl.state.Batches - 1, LastOfPass: pl.last,
		Rows: len(pl.examples), GlobalRows: pl.globalRows, ignoreLabel: meta.IgnoreLabelID, pool: l.pool}
	l.lay.view(b, buf)
	n := l.lay.seqLen
	// Every record is a wait on main memory: locate them all first, then
	// copy each while the following ones are being fetched.
	recs = recs[:len(pl.examples)]
	for i, e := range pl.examples {
		recs[i] = p.store.record(p.base + int64(e))
	}
	for _, r := range recs[:min(gatherAhead, len(recs))] {
		prefetch.Range(unsafe.Pointer(unsafe.SliceData(r)), uintptr(len(r)))
	}
	for i, r := range recs {
		if k := i + gatherAhead; k < len(recs) {
			prefetch.Range(unsafe.Pointer(unsafe.SliceData(recs[k])), uintptr(len(recs[k])))
		}
		in, lab, id := splitRecord(r, n)
		copy(b.Inputs[i*n:(i+1)*n], in)
		copy(b.Labels[i*n:(i+1)*n], lab)
		b.PuzzleIdentifiers[i] = id
		b.Puzzles[i] = pl.puzzles[i]
		b.Examples[i] = pl.examples[i]
	}
	if r := len(pl.examples); r < l.lay.rows {
		padLabel := byte(meta.PadID)
		if meta.IgnoreLabelID != nil {
			padLabel = byte(*meta.IgnoreLabelID)
		}
		fill(b.Inputs[r*n:], byte(meta.PadID))
		fill(b.Labels[r*n:], padLabel)
		for i := r; i < l.lay.rows; i++ {
			b.PuzzleIdentifiers[i] = int32(meta.BlankIdentifierID)
			b.Puzzles[i] = -1
			b.Examples[i] = -1
		}
	}
	return b
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
