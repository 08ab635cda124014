package loader

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/tinyrecursion/trm/nprand"
)

// Sampler selects the order in which examples are batched.
type Sampler int

const (
	// Train is the reference training sampler (spec/reference-loader-eval.md
	// 1.6): per pass and set, a Philox-seeded group order repeated
	// EpochsPerIter times, one random puzzle per visited group, that
	// puzzle's examples in random order until the global batch is full; the
	// incomplete last batch of each set is dropped.
	Train Sampler = iota
	// Eval visits examples in storage order (1.5); the last batch of each
	// set is padded with pad_id inputs, ignored labels and the blank
	// identifier, and Batch.Rows counts the real rows.
	Eval
	// Shuffle batches a uniformly shuffled order of all examples of a set
	// per pass, dropping the incomplete last batch.
	Shuffle
)

func (s Sampler) String() string {
	switch s {
	case Train:
		return "train"
	case Eval:
		return "eval"
	case Shuffle:
		return "shuffle"
	}
	return "sampler(" + strconv.Itoa(int(s)) + ")"
}

// ParseSampler is the inverse of String.
func ParseSampler(s string) (Sampler, error) {
	for _, k := range []Sampler{Train, Eval, Shuffle} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("loader: unknown sampler %q (train, eval, shuffle)", s)
}

// plan is one local batch decided by the sampler: example and puzzle indices
// within part, and the sampler's state once it is consumed.
type plan struct {
	part       int
	pass       int
	examples   []int32
	puzzles    []int32
	globalRows int
	last       bool
	state      State
}

// sampler produces the plans of one rank in order. It is used by one
// goroutine at a time.
type sampler struct {
	cfg   Config
	src   *Source
	local int // local batch size
	st    State

	// derived from st and re-created by restore
	order  []int // group order (train) or example order (shuffle) of the open part
	philox *nprand.Generator
	// draws reads philox ahead in bulk for the per-row puzzle choice and
	// is committed at the end of every batch, so that philox's state is
	// exact whenever it is snapshot.
	draws  nprand.Lookahead
	choice *nprand.RandomState
	// per-part batch counts in shard-local mode
	fixed []int64

	// pending is the next set's order being drawn ahead (see nextOrder);
	// spare is a buffer for the draw after it; orders of aheadFrom
	// entries or more are drawn ahead.
	pending   *nextOrder
	spare     []int
	aheadFrom int64

	scratch []int
	offsets []uint32 // drawSingles' puzzle choices
	// recycled plans (see recycle): a plan's arrays are 8 bytes a row, and
	// allocating them per batch fed the garbage collector for nothing.
	free chan *plan
	// lastChoice is the snapshot of the choice stream, shared by the
	// states of batches that drew nothing from it (every Sudoku batch):
	// copying its 2.5 KB per batch would be most of a state's cost.
	lastChoice *nprand.State
}

func newSampler(src *Source, cfg Config) (*sampler, error) {
	s := &sampler{cfg: cfg, src: src, local: cfg.GlobalBatch / cfg.WorldSize, free: make(chan *plan, cfg.Prefetch+cfg.Workers+2),
		aheadFrom: backgroundOrder}
	s.st = State{Version: StateVersion, Sampler: cfg.Sampler.String(), Rank: cfg.Rank, WorldSize: cfg.WorldSize,
		GlobalBatch: cfg.GlobalBatch, Seed: cfg.Seed, ShardLocal: src.shardLocal}
	if cfg.Sampler == Train {
		var err error
		if s.choice, err = s.newChoice(); err != nil {
			return nil, err
		}
	}
	if err := s.checkSize(); err != nil {
		return nil, err
	}
	return s, nil
}

// newChoice seeds the legacy stream of np.random.choice as the reference's
// DataLoader worker has it: torch.manual_seed(seed + rank), worker 0. With
// SameChoiceOnAllRanks every rank uses seed, so the ranks' slices form one
// consistent global batch (fixing quirk Q-L3).
func (s *sampler) newChoice() (*nprand.RandomState, error) {
	if w := s.cfg.ChoiceSeedWords; w != nil {
		r, err := nprand.NewFromArray(w[:])
		if err != nil {
			return nil, fmt.Errorf("loader: choice seed: %w", err)
		}
		return r, nil
	}
	seed := s.cfg.Seed + int64(s.cfg.Rank)
	if s.cfg.SameChoiceOnAllRanks && !s.src.shardLocal {
		seed = s.cfg.Seed
	}
	return nprand.NewTorchWorker(uint32(seed), 0), nil
}

// checkSize rejects a source that cannot fill one batch, and computes the
// per-set batch counts of shard-local mode, which every rank derives from
// the manifest alone so that all ranks agree.
func (s *sampler) checkSize() error {
	gb := int64(s.cfg.GlobalBatch)
	nonEmpty := false
	for _, p := range s.src.Parts {
		rows := p.Rows()
		for _, r := range p.rankRows { // shard-local: any rank's rows count
			rows = max(rows, r)
		}
		if rows == 0 {
			s.fixed = append(s.fixed, 0)
			continue
		}
		nonEmpty = true
		where := fmt.Sprintf("loader: set %s of split %s", p.Name, s.src.Split)
		if s.src.shardLocal {
			lb := int64(s.local)
			var n int64
			switch s.cfg.Sampler {
			case Train:
				// Examples per epoch of rank r, exact when the puzzles of a
				// group have equal example counts (every builder's data).
				n = -1
				for r := range p.rankRows {
					if p.rankPuzzles[r] == 0 {
						n = 0
						break
					}
					e := p.rankRows[r] * p.rankGroups[r] / p.rankPuzzles[r]
					if n < 0 || e < n {
						n = e
					}
				}
				n = n * int64(s.cfg.EpochsPerIter) / lb
			case Shuffle:
				n = p.rankRows[0]
				for _, r := range p.rankRows {
					n = min(n, r)
				}
				n /= lb
			case Eval:
				for _, r := range p.rankRows {
					n = max(n, (r+lb-1)/lb)
				}
			}
			if n == 0 {
				return fmt.Errorf("%s is too small: in shard-local mode some rank cannot fill one local batch of %d (rows per rank %v)", where, lb, p.rankRows)
			}
			s.fixed = append(s.fixed, n)
			continue
		}
		switch s.cfg.Sampler {
		case Train:
			// The first batch of a pass is full whenever the smallest puzzle
			// of every group, over all epochs, reaches the global batch.
			var least int64
			for g := range p.Groups() {
				m := int64(-1)
				for q := p.GroupIndices[g]; q < p.GroupIndices[g+1]; q++ {
					m0 := p.PuzzleIndices[q+1] - p.PuzzleIndices[q]
					if m < 0 || m0 < m {
						m = m0
					}
				}
				least += m
			}
			if least*int64(s.cfg.EpochsPerIter) < gb {
				return fmt.Errorf("%s is too small: %d epochs of %d groups guarantee only %d examples, fewer than the global batch %d",
					where, s.cfg.EpochsPerIter, p.Groups(), least*int64(s.cfg.EpochsPerIter), gb)
			}
		case Shuffle:
			if p.Rows() < gb {
				return fmt.Errorf("%s is too small: %d examples, fewer than the global batch %d", where, p.Rows(), gb)
			}
		}
		s.fixed = append(s.fixed, 0)
	}
	if !nonEmpty {
		return fmt.Errorf("loader: split %s has no examples", s.src.Split)
	}
	return nil
}

// passes is the number of passes to run; 0 is unbounded.
func (s *sampler) passes() int {
	if s.cfg.Passes == 0 && s.cfg.Sampler == Eval {
		return 1
	}
	return s.cfg.Passes
}

// next returns the next plan, or io.EOF after the last pass.
func (s *sampler) next() (*plan, error) {
	for {
		if n := s.passes(); n > 0 && s.st.Pass >= n {
			return nil, io.EOF
		}
		if s.st.Part >= len(s.src.Parts) {
			s.st.Pass++
			s.st.Part = 0
			continue
		}
		p := s.src.Parts[s.st.Part]
		if !s.st.Open {
			s.openPart(p)
		}
		pl := s.sample(p)
		if pl == nil {
			s.st.Part++
			s.st.Open, s.st.InPart, s.st.Start, s.st.Epochs = false, 0, 0, 0
			s.order = s.order[:0]
			continue
		}
		s.st.InPart++
		s.st.Batches++
		pl.part, pl.pass = s.st.Part, s.st.Pass+1
		pl.state = s.snapshot()
		return pl, nil
	}
}

// openPart starts a set within a pass: it draws the set's order.
func (s *sampler) openPart(p *Part) {
	s.st.Open = true
	s.st.Start, s.st.InPart = 0, 0
	if s.cfg.Sampler == Eval {
		return
	}
	s.st.Iters++
	if f := s.pending; f != nil && f.part == s.st.Part && f.iters == s.st.Iters {
		<-f.done
		s.spare = s.order
		s.order, s.philox = f.order, f.philox
	} else {
		s.order, s.philox = s.drawOrder(p, s.st.Iters, s.order)
	}
	s.draws.Reset(s.philox)
	s.st.Epochs = s.cfg.EpochsPerIter
	s.prepareNext()
}

// nextOrder is the order of the set after the open one, drawn by a
// goroutine of its own while the open set is sampled: the draw depends
// only on the seed, and drawing a large order when its set opens held up
// every gatherer waiting for the sampler (62,500 groups: 0.8 ms).
// Small orders are drawn in place: there a goroutine per set cost more
// than it saved (a Sudoku set of 1,000 groups opens every batch).
type nextOrder struct {
	part   int
	iters  int64
	done   chan struct{} // closed when order and philox are set
	order  []int
	philox *nprand.Generator
}

// backgroundOrder is the least order length drawn ahead by nextOrder.
const backgroundOrder = 1 << 14

// prepareNext starts drawing the order of the set that opens next, if it
// is large.
func (s *sampler) prepareNext() {
	next := (s.st.Part + 1) % len(s.src.Parts)
	n := s.src.Parts[next].Rows()
	if s.cfg.Sampler == Train {
		n = int64(s.src.Parts[next].Groups() * s.cfg.EpochsPerIter)
	}
	if n < s.aheadFrom {
		return
	}
	f := &nextOrder{part: next, iters: s.st.Iters + 1, done: make(chan struct{})}
	buf := s.spare
	s.spare = nil
	go func() {
		f.order, f.philox = s.drawOrder(s.src.Parts[f.part], f.iters, buf)
		close(f.done)
	}()
	s.pending = f
}

// drawOrder draws the order a set opens with at iteration iters, into buf:
// EpochsPerIter permutations of the groups (train) or one of the examples
// (shuffle), from the set's fresh Philox stream, returned with it. It reads
// only the configuration and the set, so it may run on any goroutine.
func (s *sampler) drawOrder(p *Part, iters int64, buf []int) ([]int, *nprand.Generator) {
	g := nprand.NewGenerator(uint64(s.cfg.Seed + iters))
	switch s.cfg.Sampler {
	case Train:
		n, e := p.Groups(), s.cfg.EpochsPerIter
		buf = slices.Grow(buf[:0], e*n)[:e*n]
		for k := range e {
			g.PermutationInto(buf[k*n : (k+1)*n])
		}
	case Shuffle:
		buf = slices.Grow(buf[:0], int(p.Rows()))[:p.Rows()]
		g.PermutationInto(buf)
	}
	return buf, g
}

// extendOrder appends one more epoch to the group order of a shard-local
// pass.
func (s *sampler) extendOrder(p *Part) { s.drawExtraEpochs(p, s.st.Epochs+1) }

// drawExtraEpochs appends the order's epochs from Epochs up to epochs:
// epoch e >= EpochsPerIter is permutation e-EpochsPerIter of the extension
// stream, redrawn from its start, so that restore and a running pass draw
// each the same way.
func (s *sampler) drawExtraEpochs(p *Part, epochs int) {
	ext := s.extension()
	perm := make([]int, p.Groups())
	for e := s.cfg.EpochsPerIter; e < epochs; e++ {
		ext.PermutationInto(perm)
		if e >= s.st.Epochs {
			s.order = append(s.order, perm...)
		}
	}
	s.st.Epochs = epochs
}

// extension is the stream of the extra epochs of shard-local training: a
// Philox keyed by a SeedSequence of the set's seed and a tag word, which
// the reference's one-word seeds never produce.
func (s *sampler) extension() *nprand.Generator {
	seed := uint64(s.cfg.Seed + s.st.Iters)
	key := nprand.NewSeedSequence(uint32(seed), uint32(seed>>32), 0x6c6f6164 /* "load" */).GenerateState(4)
	return &nprand.Generator{Philox: *nprand.NewPhiloxKey([2]uint64{
		uint64(key[0]) | uint64(key[1])<<32, uint64(key[2]) | uint64(key[3])<<32})}
}

// sample makes the next plan of part p, or nil when the set is finished
// for this pass.
func (s *sampler) sample(p *Part) *plan {
	fixed := s.fixed[s.st.Part]
	if fixed > 0 && s.st.InPart >= fixed {
		return nil
	}
	switch s.cfg.Sampler {
	case Train:
		return s.sampleTrain(p, fixed > 0)
	case Shuffle:
		return s.sampleShuffle(p, fixed > 0)
	}
	return s.sampleEval(p, fixed > 0)
}

// newPlan returns an empty plan with room for n rows, recycled if one is
// free.
func (s *sampler) newPlan(n int) *plan {
	select {
	case pl := <-s.free:
		*pl = plan{examples: pl.examples[:0], puzzles: pl.puzzles[:0]}
		if cap(pl.examples) >= n {
			return pl
		}
	default:
	}
	return &plan{examples: make([]int32, 0, n), puzzles: make([]int32, 0, n)}
}

// recycle hands back a plan whose batch has been gathered. It may be called
// from any goroutine.
func (s *sampler) recycle(pl *plan) {
	select {
	case s.free <- pl:
	default:
	}
}

// sampleTrain is the reference's _sample_batch plus rank slicing.
func (s *sampler) sampleTrain(p *Part, local bool) *plan {
	want := s.cfg.GlobalBatch
	if local {
		want = s.local
	}
	pl := s.newPlan(s.cfg.GlobalBatch)
	ex, pz := pl.examples[:want], pl.puzzles[:want]
	var n int
	switch left := int64(len(s.order)) - s.st.Start; {
	case p.even.size == 1 && left >= int64(want):
		n = s.drawSingles(p.even.puzzles, ex, pz)
	case p.even.size == 1 && !local:
		// The set's last, incomplete batch, which the reference draws and
		// drops: with one example per puzzle its draws come only from the
		// set's own Philox stream, discarded with the set, so they are
		// skipped (a fifth of every batch on a set of 1,000 groups).
		s.st.Start += left
	default:
		n = s.drawRows(p, ex, pz, local)
	}
	s.draws.Commit()
	if n < want {
		s.recycle(pl)
		return nil
	}
	pl.examples, pl.puzzles = ex, pz
	pl.globalRows = s.cfg.GlobalBatch
	if !local {
		lo, hi := s.cfg.Rank*s.local, (s.cfg.Rank+1)*s.local
		pl.examples, pl.puzzles = pl.examples[lo:hi], pl.puzzles[lo:hi]
	}
	return pl
}

// drawRows fills ex and pz with the rows of the next groups of the order
// and returns how many it filled: fewer than len(ex) when the order ran
// out (never in shard-local mode, which extends it).
func (s *sampler) drawRows(p *Part, ex, pz []int32, local bool) int {
	n := 0
	for n < len(ex) {
		if s.st.Start >= int64(len(s.order)) {
			if !local {
				break
			}
			// Shard-local passes have a fixed batch count: continue into
			// one more epoch of this rank's groups.
			s.extendOrder(p)
		}
		gi := p.group(s.order[s.st.Start])
		s.st.Start++
		// The reference's integers(lo, hi) draws the same as Below(hi-lo).
		off := int64(s.draws.Below(gi.puzzles))
		q := gi.firstPuzzle + off
		var first int64
		var size int
		if gi.size > 0 {
			first, size = gi.firstRow+off*int64(gi.size), int(gi.size)
		} else {
			first = p.PuzzleIndices[q]
			size = int(p.PuzzleIndices[q+1] - first)
		}
		if size == 1 {
			// choice(1, 1) draws nothing: skip the call.
			ex[n], pz[n] = int32(first), int32(q)
			n++
			continue
		}
		s.scratch = s.choice.ChoiceInto(s.scratch, size, min(size, len(ex)-n))
		for _, c := range s.scratch {
			ex[n], pz[n] = int32(first)+int32(c), int32(q)
			n++
		}
	}
	return n
}

// drawSingles is drawRows for sets whose groups all hold puzzles puzzles
// of one example (Sudoku, Maze) when the order has a batch's groups left:
// each row is one group, puzzle and example, so all the draws are made in
// one call and no group summary is read. It returns len(ex).
func (s *sampler) drawSingles(puzzles uint32, ex, pz []int32) int {
	offs := slices.Grow(s.offsets[:0], len(ex))[:len(ex)]
	s.offsets = offs
	s.draws.BelowInto(offs, puzzles)
	for k, g := range s.order[s.st.Start : s.st.Start+int64(len(ex))] {
		q := int32(int64(g)*int64(puzzles) + int64(offs[k]))
		ex[k], pz[k] = q, q
	}
	s.st.Start += int64(len(ex))
	return len(ex)
}

// sampleShuffle takes the next batch of the shuffled example order.
func (s *sampler) sampleShuffle(p *Part, local bool) *plan {
	want := int64(s.cfg.GlobalBatch)
	lo := s.st.Start + int64(s.cfg.Rank*s.local)
	if local {
		want = int64(s.local)
		lo = s.st.Start
	}
	if s.st.Start+want > int64(len(s.order)) {
		return nil
	}
	pl := s.newPlan(s.local)
	pl.globalRows = s.cfg.GlobalBatch
	puzzles := p.rowPuzzles()
	for _, e := range s.order[lo : lo+int64(s.local)] {
		pl.examples = append(pl.examples, int32(e))
		pl.puzzles = append(pl.puzzles, puzzles[e])
	}
	s.st.Start += want
	return pl
}

// sampleEval is the reference's _iter_test step: each rank takes its slice
// of the next global batch in storage order; short slices are padded by the
// gatherer.
func (s *sampler) sampleEval(p *Part, local bool) *plan {
	t := p.Rows()
	gb := int64(s.cfg.GlobalBatch)
	lb := int64(s.local)
	var lo, hi int64
	pl := s.newPlan(s.local)
	if local {
		lo, hi = s.st.Start, min(t, s.st.Start+lb)
		for _, r := range p.rankRows {
			pl.globalRows += int(max(0, min(lb, r-s.st.Start)))
		}
		s.st.Start += lb
	} else {
		if s.st.Start >= t {
			return nil
		}
		end := min(t, s.st.Start+gb)
		lo = s.st.Start + int64(s.cfg.Rank)*lb
		hi = min(s.st.Start+int64(s.cfg.Rank+1)*lb, end)
		pl.globalRows = int(end - s.st.Start)
		s.st.Start += gb
	}
	for e := lo; e < hi; e++ {
		pl.examples = append(pl.examples, int32(e))
	}
	if lo < hi {
		q := p.puzzleOf(lo)
		for e := lo; e < hi; e++ {
			for p.PuzzleIndices[q+1] <= e {
				q++
			}
			pl.puzzles = append(pl.puzzles, int32(q))
		}
	}
	return pl
}

// snapshot copies the current state, RNG positions included.
func (s *sampler) snapshot() State {
	st := s.st
	if s.philox != nil && st.Open {
		ps := s.philox.State()
		st.Philox = &ps
	} else {
		st.Philox = nil
	}
	if s.choice != nil {
		if s.lastChoice == nil || s.lastChoice.Draws != s.choice.Draws() {
			cs := s.choice.State()
			s.lastChoice = &cs
		}
		st.Choice = s.lastChoice
	}
	return st
}

// restore reinstates a snapshot: the order of an open set is redrawn from
// its seed, the RNG streams are set to their saved positions.
func (s *sampler) restore(st State) error {
	want := s.snapshot()
	switch {
	case st.Version != StateVersion:
		return fmt.Errorf("loader: state version %d, this trm writes %d", st.Version, StateVersion)
	case st.Sampler != want.Sampler || st.Rank != want.Rank || st.WorldSize != want.WorldSize ||
		st.GlobalBatch != want.GlobalBatch || st.Seed != want.Seed || st.ShardLocal != want.ShardLocal:
		return fmt.Errorf("loader: state is from another run (sampler %s, rank %d of %d, global batch %d, seed %d, shard-local %v; this loader: %s, %d of %d, %d, %d, %v)",
			st.Sampler, st.Rank, st.WorldSize, st.GlobalBatch, st.Seed, st.ShardLocal,
			want.Sampler, want.Rank, want.WorldSize, want.GlobalBatch, want.Seed, want.ShardLocal)
	case st.Part < 0 || st.Part > len(s.src.Parts) || st.Pass < 0 || st.Start < 0 || st.InPart < 0 || st.Iters < 0 || st.Batches < 0:
		return fmt.Errorf("loader: state position (pass %d, set %d, start %d) is invalid for this source", st.Pass, st.Part, st.Start)
	case st.Open && st.Part == len(s.src.Parts):
		// A set closes before the position moves past it.
		return fmt.Errorf("loader: state has set %d open, past the source's %d sets", st.Part, len(s.src.Parts))
	case s.cfg.Sampler == Train && st.Choice == nil:
		return fmt.Errorf("loader: training state lacks the choice RNG")
	case st.Open && s.cfg.Sampler != Eval && st.Philox == nil:
		return fmt.Errorf("loader: state of an open set lacks its Philox RNG")
	}
	s.st = st
	s.st.Philox, s.st.Choice = nil, nil
	s.order = s.order[:0]
	if s.cfg.Sampler == Train {
		if err := s.choice.Restore(*st.Choice); err != nil {
			return fmt.Errorf("loader: %w", err)
		}
	}
	if !st.Open || s.cfg.Sampler == Eval {
		return nil
	}
	p := s.src.Parts[st.Part]
	if s.cfg.Sampler == Train {
		// Shard-local passes extend the order by at most one epoch per
		// group consumed; every batch consumes at least one group.
		most := s.cfg.EpochsPerIter
		if s.src.shardLocal {
			most += int(s.fixed[st.Part])*s.local/max(1, p.Groups()) + 1
		}
		if st.Epochs < s.cfg.EpochsPerIter || st.Epochs > most {
			return fmt.Errorf("loader: state has %d epochs in the group order, want %d..%d", st.Epochs, s.cfg.EpochsPerIter, most)
		}
	}
	s.order, s.philox = s.drawOrder(p, st.Iters, s.order)
	if s.cfg.Sampler == Train && st.Epochs > s.cfg.EpochsPerIter {
		// The epochs a shard-local pass added (see extendOrder).
		s.st.Epochs = s.cfg.EpochsPerIter
		s.drawExtraEpochs(p, st.Epochs)
	}
	if st.Start > int64(len(s.order)) {
		return fmt.Errorf("loader: state start %d beyond the order's %d entries", st.Start, len(s.order))
	}
	if err := s.philox.Restore(*st.Philox); err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	s.draws.Reset(s.philox)
	return nil
}
