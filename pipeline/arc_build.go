package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tinyrecursion/trm/augment"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/progress"
	"github.com/tinyrecursion/trm/nprand"
)

// ARCConfig configures BuildARC (spec/reference-data.md 2.1). Its JSON form
// is recorded in the manifest.
type ARCConfig struct {
	InputPrefix      string   `json:"input_file_prefix"` // files <prefix>_<subset>_{challenges,solutions}.json
	Subsets          []string `json:"subsets"`           // processed in this order
	TestSets         []string `json:"test_set_names"`    // subsets whose test examples form the test split
	Aug              int      `json:"num_aug"`           // augmented variants wanted per task
	Seed             int64    `json:"seed"`
	IdentifiersStart int      `json:"puzzle_identifiers_start"`
	// Compat "numpy" replays the reference's single global numpy stream, so
	// the arrays equal the reference's byte for byte; "" draws every task's
	// augmentations from its own stream.
	Compat string `json:"compat,omitempty"`
	// Warn receives the reference's warnings (missing solutions file, task
	// that cannot reach Aug distinct variants); nil discards them.
	Warn func(string) `json:"-"`

	// numpyDone, when set, sees the global stream after a compat build, so
	// tests can check the exact number of draws.
	numpyDone func(*nprand.RandomState)
}

// CompatNumpy is the ARCConfig.Compat value that reproduces the reference.
const CompatNumpy = "numpy"

// arcRetries is the reference's ARCAugmentRetriesFactor: at most
// arcRetries*Aug augmentation trials per task.
const arcRetries = 5

// arcItem is one task in processing order, with its examples routed to the
// splits (spec 2.3 step 5) and, once planned, its accepted variants.
type arcItem struct {
	task   *arcTask
	subset string
	// train and test are the examples of the task's train-split and
	// test-split puzzles; test is empty unless the subset is a test set.
	train, test []*arcExample
	variants    []arcVariant
	firstID     int32 // identifier of the original; variant k has firstID+k
}

// all returns the examples of every destination, the set the reference's
// puzzle hash covers.
func (it *arcItem) all() []*arcExample {
	if len(it.test) == 0 {
		return it.train
	}
	return append(slices.Clip(it.train), it.test...)
}

func (c *ARCConfig) check() error {
	switch {
	case c.InputPrefix == "":
		return fmt.Errorf("arc: no input prefix")
	case len(c.Subsets) == 0:
		return fmt.Errorf("arc: no subsets")
	case c.Aug < 0:
		return fmt.Errorf("arc: --aug %d is negative", c.Aug)
	case c.IdentifiersStart < 1:
		return fmt.Errorf("arc: --identifiers-start %d must be at least 1 (0 is the blank identifier)", c.IdentifiersStart)
	case c.Compat != "" && c.Compat != CompatNumpy:
		return fmt.Errorf("arc: unknown --compat %q (only %q)", c.Compat, CompatNumpy)
	case c.Compat == CompatNumpy && (c.Seed < 0 || c.Seed > math.MaxUint32):
		return fmt.Errorf("arc: --seed %d: numpy's seed must be in 0..2^32-1", c.Seed)
	}
	for i, s := range c.Subsets {
		if slices.Contains(c.Subsets[:i], s) {
			return fmt.Errorf("arc: subset %s listed twice", s)
		}
	}
	for _, s := range c.TestSets {
		if !slices.Contains(c.Subsets, s) {
			return fmt.Errorf("arc: test set %s is not among the subsets %v", s, c.Subsets)
		}
	}
	return nil
}

func (c *ARCConfig) warn(msg string) {
	if c.Warn != nil {
		c.Warn(msg)
	}
}

// loadARC reads every subset in order and routes each task's examples.
// Tasks stay in file order; the caller shuffles each subset's run.
func loadARC(cfg *ARCConfig) (items []*arcItem, subsetEnds []int, err error) {
	seenIn := map[string]string{}
	for _, subset := range cfg.Subsets {
		tasks, err := readARCSubset(cfg.InputPrefix, subset, cfg.warn)
		if err != nil {
			return nil, nil, err
		}
		isTest := slices.Contains(cfg.TestSets, subset)
		for _, t := range tasks {
			if prev, dup := seenIn[t.ID]; dup {
				return nil, nil, fmt.Errorf("arc: task %s is in both subsets %s and %s; puzzle names must be unique", t.ID, prev, subset)
			}
			seenIn[t.ID] = subset
			it := &arcItem{task: t, subset: subset}
			for si := range t.Sections {
				s := &t.Sections[si]
				for ei := range s.Examples {
					if isTest && s.Name == "test" {
						it.test = append(it.test, &s.Examples[ei])
					} else {
						it.train = append(it.train, &s.Examples[ei])
					}
				}
			}
			items = append(items, it)
		}
		subsetEnds = append(subsetEnds, len(items))
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("arc: the subsets %v hold no tasks", cfg.Subsets)
	}
	return items, subsetEnds, nil
}

// intn draws uniformly from [0, n). The two modes differ only in which
// stream backs it: numpy's randint(0, n) on the global RandomState, or a
// per-task PCG stream.
type intn func(n int) int

func numpyIntn(rs *nprand.RandomState) intn {
	return func(n int) int { return int(rs.Randint(0, int64(n))) }
}

// shuffleARC is np.random.shuffle of a task list: Fisher–Yates from the
// end, swapping i with random_interval(i).
func shuffleARC(items []*arcItem, draw intn) {
	for i := len(items) - 1; i > 0; i-- {
		j := draw(i + 1)
		items[i], items[j] = items[j], items[i]
	}
}

// drawARCVariant is the reference's aug() (spec 2.6): randint(0, 8), then
// np.random.permutation of the colours 1..9.
func drawARCVariant(draw intn) arcVariant {
	v := arcVariant{Trans: uint8(draw(augment.NumDihedral))}
	for c := range v.Colours {
		v.Colours[c] = byte(c)
	}
	perm := v.Colours[1:]
	for i := len(perm) - 1; i > 0; i-- {
		j := draw(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return v
}

// identityVariant is the original puzzle.
var identityVariant = arcVariant{Colours: [10]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}

// mapping expands the colour map to a byte table for augment.DihedralRecolor.
func (v *arcVariant) mapping() *[256]byte {
	var m [256]byte
	copy(m[:], v.Colours[:])
	return &m
}

// arcHasher computes the reference's puzzle hash of a variant. It keeps
// scratch buffers, so each goroutine needs its own.
type arcHasher struct {
	buf     [2 + augment.ARCSeqLen]byte
	pairs   []arcPairHash
	scratch []byte
}

func (h *arcHasher) gridHash(g arcGrid, t int, m *[256]byte) [sha256.Size]byte {
	oh, ow := augment.DihedralRecolor(h.buf[2:], g.Cells, g.H, g.W, t, m)
	h.buf[0], h.buf[1] = byte(oh), byte(ow)
	return arcGridHash(h.buf[:2+oh*ow])
}

func (h *arcHasher) puzzleHash(exs []*arcExample, v *arcVariant) [sha256.Size]byte {
	m := v.mapping()
	h.pairs = h.pairs[:0]
	for _, ex := range exs {
		var p arcPairHash
		in, out := h.gridHash(ex.Input, int(v.Trans), m), h.gridHash(ex.Output, int(v.Trans), m)
		copy(p[:sha256.Size], in[:])
		copy(p[sha256.Size:], out[:])
		h.pairs = append(h.pairs, p)
	}
	return arcPuzzleHash(h.pairs, &h.scratch)
}

// planARC runs the reference's augmentation trials for one task (spec 2.5
// step 5): draw a variant, keep it if its puzzle hash is new, until aug
// variants are kept or arcRetries*aug trials are spent. It returns the kept
// variants in acceptance order.
//
// Trials run in batches of as many as are still missing: each trial adds at
// most one variant, so the reference's stop test cannot fire inside a
// batch, and the draws, hence the stream's position, are exactly the
// reference's. Within a batch, hashes can be computed in parallel (hash).
//
// A variant's grids depend only on its transform and on where it sends the
// colours the task uses, so a trial repeating an earlier (transform, used
// colours) pair is a duplicate without hashing. Tasks with few colours or
// symmetries, which spend the whole trial budget, mostly hit this.
func planARC(exs []*arcExample, aug int, draw intn, hash arcBatchHasher) []arcVariant {
	if aug == 0 {
		return nil
	}
	var used [10]bool
	for _, ex := range exs {
		for _, c := range ex.Input.Cells {
			used[c] = true
		}
		for _, c := range ex.Output.Cells {
			used[c] = true
		}
	}
	key := func(v *arcVariant) uint64 {
		k := uint64(v.Trans)
		for c := 1; c < len(used); c++ {
			if used[c] {
				k = k<<4 | uint64(v.Colours[c])
			}
		}
		return k
	}
	tried := map[uint64]struct{}{key(&identityVariant): {}}
	seen := make(map[[sha256.Size]byte]struct{}, aug+1)
	var hashes [][sha256.Size]byte
	hash(exs, []arcVariant{identityVariant}, &hashes)
	seen[hashes[0]] = struct{}{}
	variants := make([]arcVariant, 0, aug)
	var batch []arcVariant
	for trials := 0; trials < arcRetries*aug && len(variants) < aug; {
		n := min(aug-len(variants), arcRetries*aug-trials)
		trials += n
		batch = batch[:0]
		for range n {
			v := drawARCVariant(draw)
			if k := key(&v); !hasKey(tried, k) {
				tried[k] = struct{}{}
				batch = append(batch, v)
			}
		}
		hash(exs, batch, &hashes)
		for i, ph := range hashes {
			if _, dup := seen[ph]; !dup {
				seen[ph] = struct{}{}
				variants = append(variants, batch[i])
			}
		}
	}
	return variants
}

func hasKey(m map[uint64]struct{}, k uint64) bool {
	_, ok := m[k]
	return ok
}

// arcBatchHasher sets *out to the puzzle hashes of the variants of a task
// with examples exs.
type arcBatchHasher func(exs []*arcExample, variants []arcVariant, out *[][sha256.Size]byte)

// hashAll is the sequential arcBatchHasher.
func (h *arcHasher) hashAll(exs []*arcExample, variants []arcVariant, out *[][sha256.Size]byte) {
	*out = (*out)[:0]
	for i := range variants {
		*out = append(*out, h.puzzleHash(exs, &variants[i]))
	}
}

// parallelHasher hashes large batches on several goroutines, for the
// compat planner, which must visit the tasks one after the other.
func parallelHasher(workers int) arcBatchHasher {
	hs := make([]arcHasher, workers)
	return func(exs []*arcExample, variants []arcVariant, out *[][sha256.Size]byte) {
		const minChunk = 32 // below this, goroutines cost more than they save
		n := len(variants)
		*out = slices.Grow((*out)[:0], n)[:n]
		chunk := max(minChunk, (n+workers-1)/workers)
		var wg sync.WaitGroup
		for w := 0; w*chunk < n; w++ {
			lo, hi := w*chunk, min(n, (w+1)*chunk)
			wg.Go(func() {
				for i := lo; i < hi; i++ {
					(*out)[i] = hs[w].puzzleHash(exs, &variants[i])
				}
			})
		}
		wg.Wait()
	}
}

// arcShape is a grid's shape after dihedral transform t.
func arcShape(g arcGrid, t uint8) (int, int) { return augment.DihedralShape(g.H, g.W, int(t)) }

// drawARCOffsets draws the translations of one group's puzzles in the
// reference's order (spec 2.10, 2.11): per puzzle, the example left in the
// corner, then (when translate) row and column offsets of every other
// example, uniform over the positions where the larger of its input and
// output fits. It returns dst extended by a (row, column) pair per puzzle
// and example, zero when untranslated.
func drawARCOffsets(dst []uint8, exs []*arcExample, variants []arcVariant, translate bool, draw intn) []uint8 {
	for p := range 1 + len(variants) {
		t := uint8(0)
		if p > 0 {
			t = variants[p-1].Trans
		}
		keep := draw(len(exs))
		for e, ex := range exs {
			if !translate || e == keep {
				dst = append(dst, 0, 0)
				continue
			}
			ih, iw := arcShape(ex.Input, t)
			oh, ow := arcShape(ex.Output, t)
			r := draw(augment.ARCCanvas - max(ih, oh) + 1)
			c := draw(augment.ARCCanvas - max(iw, ow) + 1)
			dst = append(dst, uint8(r), uint8(c))
		}
	}
	return dst
}

// encodeARCGroup encodes one group into g (reusing its buffers): the
// original puzzle, then each variant, each with the examples exs, at the
// offsets drawARCOffsets gave (nil: all untranslated).
func encodeARCGroup(g *dataset.Group, exs []*arcExample, variants []arcVariant, offsets []uint8, firstID int32) {
	g.Reset()
	puzzles := 1 + len(variants)
	size := puzzles * len(exs) * augment.ARCSeqLen
	g.Inputs = slices.Grow(g.Inputs, size)[:size] // EncodeARC writes every byte
	g.Labels = slices.Grow(g.Labels, size)[:size]
	var grid [augment.ARCSeqLen]byte
	encode := func(dst []byte, src arcGrid, t int, m *[256]byte, r, c int) {
		h, w := augment.DihedralRecolor(grid[:], src.Cells, src.H, src.W, t, m)
		augment.EncodeARC((*[augment.ARCSeqLen]byte)(dst), grid[:h*w], h, w, r, c)
	}
	row := 0
	for p := range puzzles {
		v, aug := &identityVariant, ""
		if p > 0 {
			v = &variants[p-1]
			aug = v.suffix()
		}
		m := v.mapping()
		for _, ex := range exs {
			r, c := 0, 0
			if offsets != nil {
				r, c = int(offsets[2*row]), int(offsets[2*row+1])
			}
			at := row * augment.ARCSeqLen
			encode(g.Inputs[at:at+augment.ARCSeqLen], ex.Input, int(v.Trans), m, r, c)
			encode(g.Labels[at:at+augment.ARCSeqLen], ex.Output, int(v.Trans), m, r, c)
			row++
		}
		g.AddPuzzle(len(exs), firstID+int32(p), aug)
	}
}

// BuildARC builds the reference's ARC dataset (spec/reference-data.md 2):
// every task of every subset becomes a group of its original and up to
// cfg.Aug distinct augmented variants; the train split holds every example
// except the test examples of the test sets, which form the test split
// under the same puzzle identifiers. Groups are written in the reference's
// order (subsets in order, tasks shuffled per subset).
//
// The build runs in three passes over the (small) task list: plan the
// variants of every task, then encode and write the train split, then the
// test split; only the plans (a transform and a colour map per variant)
// outlive a group, the encoded rows stream through bounded stages.
func BuildARC(ctx context.Context, cfg ARCConfig, out Output) (*BuildReport, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	items, subsetEnds, err := loadARC(&cfg)
	if err != nil {
		return nil, err
	}
	var rs *nprand.RandomState
	if cfg.Compat == CompatNumpy {
		rs = nprand.New(uint32(cfg.Seed))
		if err := planARCNumpy(ctx, &cfg, items, subsetEnds, rs, out.WorkerCount(), out.Quiet); err != nil {
			return nil, err
		}
	} else if err := planARCStreams(ctx, &cfg, items, subsetEnds, out); err != nil {
		return nil, err
	}
	numIDs, err := assignARCIdentifiers(&cfg, items)
	if err != nil {
		return nil, err
	}
	notFull := 0
	for _, it := range items {
		if len(it.variants) < cfg.Aug {
			notFull++
			cfg.warn(fmt.Sprintf("[Puzzle %s] augmentation not full, only %d", it.task.ID, 1+len(it.variants)))
		}
	}
	if notFull > 0 {
		cfg.warn(fmt.Sprintf("%d of %d tasks have fewer than %d distinct augmentations", notFull, len(items), cfg.Aug))
	}

	w, err := out.Create("arc", cfg.Seed, cfg)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &BuildReport{Splits: map[string]dataset.SplitStats{}}
	var testItems []*arcItem
	for _, it := range items {
		if len(it.test) > 0 {
			testItems = append(testItems, it)
		}
	}
	for _, split := range []string{"train", "test"} {
		splitItems, translate := items, true
		if split == "test" {
			splitItems, translate = testItems, false
		}
		if len(splitItems) == 0 {
			continue
		}
		total := 0
		for _, it := range splitItems {
			total += (1 + len(it.variants)) * len(splitExamples(it, split))
		}
		bar := progress.New(int64(total), "arc "+split, "examples", out.Quiet)
		st, err := writeARCSplit(ctx, w, &cfg, split, splitItems, translate, rs, numIDs, out, bar)
		bar.Finish()
		if err != nil {
			return nil, err
		}
		rep.Splits[split] = st
	}
	if err := w.WriteFile("identifiers.json", arcIdentifiersJSON(&cfg, items, numIDs)); err != nil {
		return nil, err
	}
	if err := w.WriteFile("test_puzzles.json", arcTestPuzzlesJSON(testItems)); err != nil {
		return nil, err
	}
	if rs != nil && cfg.numpyDone != nil {
		cfg.numpyDone(rs)
	}
	return rep, w.Commit()
}

func splitExamples(it *arcItem, split string) []*arcExample {
	if split == "test" {
		return it.test
	}
	return it.train
}

// arcJob is one group to encode: the task and, in numpy compat mode, the
// offsets drawn in write order.
type arcJob struct {
	item    *arcItem
	offsets []uint8
}

// writeARCSplit encodes and writes one split's groups in order on all
// workers. In compat mode the source stage, which runs in group order, draws
// each group's offsets from the global stream; otherwise each worker draws
// them from its task's own stream. Groups are recycled once written, so
// memory stays at the few groups in flight.
func writeARCSplit(ctx context.Context, w *dataset.Writer, cfg *ARCConfig, split string, items []*arcItem, translate bool,
	rs *nprand.RandomState, numIDs int, out Output, bar *progress.Bar) (dataset.SplitStats, error) {
	sw, err := w.CreateSplit(dataset.SplitSpec{Name: split, VocabSize: augment.ARCVocab, GridShape: [2]int{augment.ARCCanvas, augment.ARCCanvas}})
	if err != nil {
		return dataset.SplitStats{}, err
	}
	// A free list rather than a sync.Pool: the pool is emptied at every
	// garbage collection, and these groups are megabytes each.
	free := make(chan *dataset.Group, 2*out.WorkerCount()+1)
	i := 0
	err = Ordered(ctx, out.WorkerCount(),
		func() (arcJob, bool, error) {
			if i == len(items) {
				return arcJob{}, false, nil
			}
			it := items[i]
			i++
			job := arcJob{item: it}
			if rs != nil {
				// The reference draws the untranslated example of every
				// puzzle even in the test split, where nothing is translated.
				job.offsets = drawARCOffsets(nil, splitExamples(it, split), it.variants, translate, numpyIntn(rs))
			}
			return job, true, nil
		},
		func(_ int, job arcJob) (*dataset.Group, error) {
			it := job.item
			exs := splitExamples(it, split)
			if rs == nil && translate {
				rng := GroupRand(cfg.Seed, "arc/translate/"+it.subset+"/"+it.task.ID, 0)
				job.offsets = drawARCOffsets(nil, exs, it.variants, true, rng.IntN)
			}
			var g *dataset.Group
			select {
			case g = <-free:
			default:
				g = new(dataset.Group)
			}
			encodeARCGroup(g, exs, it.variants, job.offsets, it.firstID)
			return g, nil
		},
		func(_ int, g *dataset.Group) error {
			if err := sw.WriteGroup(g); err != nil {
				return err
			}
			bar.Add(g.Rows())
			select {
			case free <- g:
			default:
			}
			return nil
		})
	if err != nil {
		return dataset.SplitStats{}, err
	}
	st := sw.Stats()
	return st, sw.Close(arcMetadata(numIDs, st))
}

// planARCStreams plans every task from its own stream: the task order of a
// subset from a stream named after the subset, a task's variants from one
// named after the subset and task id. Nothing depends on the worker count,
// and a task's augmentations do not change when other subsets are added.
func planARCStreams(ctx context.Context, cfg *ARCConfig, items []*arcItem, subsetEnds []int, out Output) error {
	start := 0
	for si, end := range subsetEnds {
		shuffleARC(items[start:end], GroupRand(cfg.Seed, "arc/shuffle/"+cfg.Subsets[si], 0).IntN)
		start = end
	}
	bar := progress.New(int64(len(items)), "arc augment", "tasks", out.Quiet)
	defer bar.Finish()
	hashers := make(chan *arcHasher, out.WorkerCount())
	for range out.WorkerCount() {
		hashers <- &arcHasher{}
	}
	i := 0
	return Ordered(ctx, out.WorkerCount(),
		func() (*arcItem, bool, error) {
			if i == len(items) {
				return nil, false, nil
			}
			i++
			return items[i-1], true, nil
		},
		func(_ int, it *arcItem) (struct{}, error) {
			h := <-hashers
			defer func() { hashers <- h }()
			rng := GroupRand(cfg.Seed, "arc/aug/"+it.subset+"/"+it.task.ID, 0)
			it.variants = planARC(it.all(), cfg.Aug, rng.IntN, h.hashAll)
			return struct{}{}, nil
		},
		func(int, struct{}) error {
			bar.Add(1)
			return nil
		})
}

// planARCNumpy plans as the reference does, on its one global stream
// (spec 2.12 step 2): for each subset, shuffle its tasks, then run the
// augmentation trials of each task in shuffled order.
func planARCNumpy(ctx context.Context, cfg *ARCConfig, items []*arcItem, subsetEnds []int, rs *nprand.RandomState, workers int, quiet bool) error {
	draw := numpyIntn(rs)
	hash := parallelHasher(workers)
	bar := progress.New(int64(len(items)), "arc augment", "tasks", quiet)
	defer bar.Finish()
	start := 0
	for _, end := range subsetEnds {
		shuffleARC(items[start:end], draw)
		for _, it := range items[start:end] {
			if err := ctx.Err(); err != nil {
				return err
			}
			it.variants = planARC(it.all(), cfg.Aug, draw, hash)
			bar.Add(1)
		}
		start = end
	}
	return nil
}

// assignARCIdentifiers numbers the puzzles as the reference does (spec
// 2.9): from IdentifiersStart, in train-split order, the original then its
// variants. Every name is met first in the train split and is unique (task
// ids are unique and contain no "|||"), so numbering is a running count.
// It returns num_puzzle_identifiers.
func assignARCIdentifiers(cfg *ARCConfig, items []*arcItem) (int, error) {
	next := int64(cfg.IdentifiersStart)
	for _, it := range items {
		it.firstID = int32(min(next, math.MaxInt32))
		next += 1 + int64(len(it.variants))
		if next > math.MaxInt32 {
			return 0, fmt.Errorf("arc: more than 2^31 puzzle identifiers")
		}
	}
	return int(next), nil
}

// arcMetadata is a split's dataset.json (spec 1.3).
func arcMetadata(numIDs int, st dataset.SplitStats) dataset.Metadata {
	return dataset.Metadata{
		IgnoreLabelID:        dataset.IntPtr(0),
		VocabSize:            augment.ARCVocab,
		SeqLen:               augment.ARCSeqLen,
		NumPuzzleIdentifiers: numIDs,
		TotalGroups:          int(st.Groups),
		MeanPuzzleExamples:   float64(st.Rows) / float64(st.Puzzles),
		TotalPuzzles:         int(st.Puzzles),
		Sets:                 []string{"all"},
	}
}

// arcIdentifiersJSON is identifiers.json: entry i names identifier i,
// "<blank>" below IdentifiersStart, written as Python's json.dump.
func arcIdentifiersJSON(cfg *ARCConfig, items []*arcItem, numIDs int) []byte {
	b := make([]byte, 0, 32*numIDs)
	b = append(b, '[')
	for i := range cfg.IdentifiersStart {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `"<blank>"`...)
	}
	for _, it := range items {
		b = append(b, ", "...)
		b = append(b, dataset.PythonString(it.task.ID)...)
		for _, v := range it.variants {
			b = append(b, ", "...)
			b = append(b, dataset.PythonString(arcPuzzleName(it.task.ID, v))...)
		}
	}
	return append(b, ']')
}

// arcTestPuzzlesJSON is test_puzzles.json: the test sets' tasks in
// processing order, as json.dump writes the reference's dict.
func arcTestPuzzlesJSON(items []*arcItem) []byte {
	b := []byte{'{'}
	for i, it := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, dataset.PythonString(it.task.ID)...)
		b = append(b, ": "...)
		b = appendPythonTask(b, it.task)
	}
	return append(b, '}')
}
