package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/procstat"
	"github.com/tinyrecursion/trm/nprand"
)

// checkRows verifies every row of a batch against the fixture written with
// rowTokens: tokens belong to the example index reported (single-set
// sources, where example index = row), identifiers and puzzles match the
// part's index arrays, and padding is the reference's.
func checkRows(t *testing.T, src *Source, b snap, base int) {
	t.Helper()
	var p *Part
	for _, q := range src.Parts {
		if q.Name == b.Set {
			p = q
		}
	}
	n := len(b.Inputs) / len(b.IDs)
	for i := range b.IDs {
		in, lab := b.Inputs[i*n:(i+1)*n], b.Labels[i*n:(i+1)*n]
		if i >= b.Rows {
			if slices.ContainsFunc(in, func(x byte) bool { return x != 0 }) || slices.ContainsFunc(lab, func(x byte) bool { return x != 0 }) ||
				b.IDs[i] != 0 || b.Puzzles[i] != -1 || b.Examples[i] != -1 {
				t.Fatalf("batch %d row %d: padding row is not pad_id / ignore / blank", b.Index, i)
			}
			continue
		}
		e := b.Examples[i]
		want := make([]byte, n)
		wantLab := make([]byte, n)
		rowTokens(base+int(e), want, wantLab)
		if !slices.Equal(in, want) || !slices.Equal(lab, wantLab) {
			t.Fatalf("batch %d row %d: tokens of row %d, the batch says example %d", b.Index, i, rowOf(in), e)
		}
		q := b.Puzzles[i]
		if int64(e) < p.PuzzleIndices[q] || int64(e) >= p.PuzzleIndices[q+1] || b.IDs[i] != p.PuzzleIdentifiers[q] {
			t.Fatalf("batch %d row %d: example %d is not in puzzle %d or identifier %d is wrong", b.Index, i, e, q, b.IDs[i])
		}
	}
}

func TestEvalVisitsEveryRowOnce(t *testing.T) {
	groups := uniformGroups(41, 3, 3)
	dir := writeDataset(t, tempDataset(t), 400, splitSpec{name: "test", shape: [2]int{2, 5}, groups: groups})
	for _, world := range []int{1, 3} {
		for _, local := range []bool{false, true} {
			t.Run(fmt.Sprintf("world%d/shardlocal=%v", world, local), func(t *testing.T) {
				var seen []int
				var counts []int
				globalReal := map[int64]int{}
				globalRows := map[int64]int{}
				for rank := range world {
					src := openSource(t, []string{dir}, "test", OpenOptions{ShardLocal: local, Rank: rank, WorldSize: world})
					bs := drain(t, newLoader(t, src, Config{Sampler: Eval, GlobalBatch: 12, Rank: rank, WorldSize: world}), -1)
					counts = append(counts, len(bs))
					for _, b := range bs {
						if !local { // shard-local example indices count within the rank's shards
							checkRows(t, src, b, 0)
						}
						n := len(b.Inputs) / len(b.IDs)
						for i := range b.Rows {
							seen = append(seen, rowOf(b.Inputs[i*n:]))
						}
						globalReal[b.Index] += b.Rows
						globalRows[b.Index] = b.GlobalRows
					}
				}
				for k, v := range globalReal {
					if globalRows[k] != v {
						t.Errorf("batch %d: ranks hold %d real rows, GlobalRows says %d", k, v, globalRows[k])
					}
				}
				if slices.Min(counts) != slices.Max(counts) {
					t.Errorf("ranks yield different batch counts %v", counts)
				}
				slices.Sort(seen)
				total := 0
				for _, g := range groups {
					for _, n := range g {
						total += n
					}
				}
				for i, r := range seen {
					if r != i {
						t.Fatalf("rows seen %v..., want each of 0..%d once", seen[:min(len(seen), 20)], total-1)
					}
				}
				if len(seen) != total {
					t.Fatalf("%d rows seen, want %d", len(seen), total)
				}
			})
		}
	}
}

func TestTrainBatchesGatherTheRightRows(t *testing.T) {
	dir := writeDataset(t, tempDataset(t), 700, splitSpec{name: "train", shape: [2]int{3, 3}, groups: uniformGroups(50, 4, 5)})
	for _, smp := range []Sampler{Train, Shuffle} {
		src := openSource(t, []string{dir}, "train", OpenOptions{})
		bs := drain(t, newLoader(t, src, Config{Sampler: smp, GlobalBatch: 16, Seed: 5, EpochsPerIter: 3, Passes: 2}), -1)
		if len(bs) == 0 {
			t.Fatal("no batches")
		}
		for _, b := range bs {
			if b.Rows != 16 || b.GlobalRows != 16 {
				t.Fatalf("%s batch %d: %d rows (%d global), want 16", smp, b.Index, b.Rows, b.GlobalRows)
			}
			checkRows(t, src, b, 0)
		}
		if smp == Shuffle {
			// One pass is a permutation: no example twice.
			seen := map[int32]bool{}
			for _, b := range bs {
				if b.Pass != 1 {
					continue
				}
				for _, e := range b.Examples {
					if seen[e] {
						t.Fatalf("shuffle repeats example %d within a pass", e)
					}
					seen[e] = true
				}
			}
			if want := int(src.Parts[0].Rows()) / 16 * 16; len(seen) != want {
				t.Errorf("shuffle pass covers %d examples, want %d", len(seen), want)
			}
		}
	}
}

// TestRankSlices checks the reference's rank slicing: all ranks draw the
// same groups and puzzles, so their slices concatenate to the single-rank
// global batch; with SameChoiceOnAllRanks the examples agree too.
func TestRankSlices(t *testing.T) {
	dir := writeDataset(t, tempDataset(t), 1<<20, splitSpec{name: "train", shape: [2]int{2, 2}, groups: uniformGroups(30, 3, 4)})
	src := openSource(t, []string{dir}, "train", OpenOptions{})
	for _, same := range []bool{false, true} {
		cfg := Config{Sampler: Train, GlobalBatch: 12, Seed: 9, EpochsPerIter: 2, Passes: 2, SameChoiceOnAllRanks: same}
		whole := drain(t, newLoader(t, src, cfg), -1)
		var parts [][]snap
		for rank := range 3 {
			c := cfg
			c.Rank, c.WorldSize = rank, 3
			parts = append(parts, drain(t, newLoader(t, src, c), -1))
		}
		for i, w := range whole {
			var puzzles, examples []int32
			for _, p := range parts {
				puzzles = append(puzzles, p[i].Puzzles...)
				examples = append(examples, p[i].Examples...)
			}
			if !slices.Equal(puzzles, w.Puzzles) {
				t.Fatalf("same=%v batch %d: rank puzzles %v, global %v", same, i, puzzles, w.Puzzles)
			}
			if same && !slices.Equal(examples, w.Examples) {
				t.Fatalf("batch %d: rank examples %v, global %v", i, examples, w.Examples)
			}
		}
	}
}

func TestMergedDatasets(t *testing.T) {
	a := writeDataset(t, tempDataset(t), 1<<20, splitSpec{name: "train", shape: [2]int{2, 2}, groups: uniformGroups(10, 2, 3), numIDs: 100})
	b := writeDataset(t, tempDataset(t)+"b", 1<<20, splitSpec{name: "train", shape: [2]int{2, 2}, groups: uniformGroups(7, 3, 2), numIDs: 100,
		ids: func() []int32 {
			ids := make([]int32, 21)
			for i := range ids {
				ids[i] = int32(50 + i)
			}
			return ids
		}()})
	src := openSource(t, []string{a, b}, "train", OpenOptions{})
	ma, _ := dataset.ReadMetadata(a, "train")
	mb, _ := dataset.ReadMetadata(b, "train")
	m := src.Meta
	wantMean := (ma.MeanPuzzleExamples*float64(ma.TotalPuzzles) + mb.MeanPuzzleExamples*float64(mb.TotalPuzzles)) / float64(ma.TotalPuzzles+mb.TotalPuzzles)
	if m.NumPuzzleIdentifiers != 200 || m.TotalGroups != 17 || m.TotalPuzzles != 41 || m.MeanPuzzleExamples != wantMean {
		t.Errorf("merged metadata %+v", m)
	}
	if len(src.Parts) != 2 || src.Parts[0].Name != "all" || src.Parts[1].Name != "all1" {
		t.Fatalf("parts %v", src.Parts)
	}
	bs := drain(t, newLoader(t, src, Config{Sampler: Eval, GlobalBatch: 8}), -1)
	if bs[0].Set != "all" || bs[len(bs)-1].Set != "all1" || bs[len(bs)-1].IDs[0] < 50 {
		t.Errorf("eval over merged sets: first %s, last %s %v", bs[0].Set, bs[len(bs)-1].Set, bs[len(bs)-1].IDs)
	}
	c := writeDataset(t, tempDataset(t)+"c", 1<<20, splitSpec{name: "train", shape: [2]int{2, 3}, groups: uniformGroups(3, 1, 1), numIDs: 100})
	if _, err := Open(context.Background(), []string{a, c}, "train", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "seq_len") {
		t.Errorf("merging different seq_len: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	mk := func() string {
		return writeDataset(t, tempDataset(t), 300, splitSpec{name: "train", shape: [2]int{2, 4}, groups: uniformGroups(20, 2, 3)})
	}
	shardPath := func(dir string, i int) string {
		ds, err := dataset.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return ds.ShardPath(ds.Manifest.Splits[0].Shards[i])
	}
	for _, storage := range []Storage{Parquet, Cache} {
		dir := mk()
		if err := os.Remove(shardPath(dir, 1)); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, []string{dir}, "train", OpenOptions{Storage: storage})
		if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
			t.Errorf("%s: missing shard: %v", storage, err)
		}

		dir = mk()
		p := shardPath(dir, 0)
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0x55
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, []string{dir}, "train", OpenOptions{Storage: storage})
		if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: changed shard: %v", storage, err)
		}
	}

	// A shard whose schema breaks the contract, with a manifest that
	// matches it: the columns are the contract's with seq_len 6 instead of 8.
	dir := mk()
	other := writeDataset(t, tempDataset(t)+"o", 1<<20, splitSpec{name: "train", shape: [2]int{2, 3}, groups: uniformGroups(2, 1, 1)})
	od, _ := dataset.Open(other)
	osh := od.Manifest.Splits[0].Shards[0]
	ds, _ := dataset.Open(dir)
	data, _ := os.ReadFile(od.ShardPath(osh))
	if err := os.WriteFile(ds.ShardPath(ds.Manifest.Splits[0].Shards[0]), data, 0o644); err != nil {
		t.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	sh := ds.Manifest.Splits[0].Shards[0]
	man = []byte(strings.Replace(string(man), sh.SHA256, osh.SHA256, 1))
	man = []byte(strings.Replace(string(man), fmt.Sprintf(`"bytes": %d`, sh.Bytes), fmt.Sprintf(`"bytes": %d`, osh.Bytes), 1))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), man, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, []string{dir}, "train", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "schema breaks the dataset contract") {
		t.Errorf("schema mismatch: %v", err)
	}

	dir = mk()
	src := openSource(t, []string{dir}, "train", OpenOptions{})
	rows := int(src.Parts[0].Rows())
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"indivisible":   {Config{Sampler: Train, GlobalBatch: 10, WorldSize: 4}, "not divisible by the world size"},
		"rank":          {Config{Sampler: Train, GlobalBatch: 8, Rank: 2, WorldSize: 2}, "outside world size"},
		"train small":   {Config{Sampler: Train, GlobalBatch: rows + 1}, "too small"},
		"shuffle small": {Config{Sampler: Shuffle, GlobalBatch: rows + 1}, "too small"},
		"seed":          {Config{Sampler: Train, GlobalBatch: 8, Seed: -1}, "seed"},
	} {
		if _, err := New(src, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
	// Evaluation pads instead: a batch larger than the data is fine.
	if bs := drain(t, newLoader(t, src, Config{Sampler: Eval, GlobalBatch: rows + 5}), -1); len(bs) != 1 || bs[0].Rows != rows {
		t.Errorf("eval with a batch larger than the split: %d batches", len(bs))
	}

	local := openSource(t, []string{dir}, "train", OpenOptions{ShardLocal: true, Rank: 1, WorldSize: 2})
	if _, err := New(local, Config{Sampler: Train, GlobalBatch: rows, Rank: 1, WorldSize: 2}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("shard-local too small: %v", err)
	}
	if _, err := New(local, Config{Sampler: Train, GlobalBatch: 4, Rank: 0, WorldSize: 2}); err == nil {
		t.Error("a loader of another rank than its shard-local source was accepted")
	}
	if _, err := Open(ctx, []string{dir}, "train", OpenOptions{ShardLocal: true, Rank: 0, WorldSize: 1000}); err == nil || !strings.Contains(err.Error(), "shards") {
		t.Errorf("more ranks than shards: %v", err)
	}
	if _, err := Open(ctx, []string{dir}, "nosuch", OpenOptions{}); err == nil {
		t.Error("missing split accepted")
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	dir := tempDataset(t)
	spec := splitSpec{name: "train", shape: [2]int{4, 4}, groups: uniformGroups(30, 3, 3)}
	writeDataset(t, dir, 600, spec)
	cfg := Config{Sampler: Train, GlobalBatch: 8, Seed: 2, EpochsPerIter: 2, Passes: 2}
	want := drain(t, newLoader(t, openSource(t, []string{dir}, "train", OpenOptions{}), cfg), -1)

	reps, err := BuildCache(ctx, dir, "", nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Built != reps[0].Shards || reps[0].Shards < 2 || reps[0].Bytes == 0 {
		t.Fatalf("first BuildCache: %+v", reps)
	}
	if reps, _ = BuildCache(ctx, dir, "", nil, 2); reps[0].Built != 0 {
		t.Fatalf("second BuildCache rebuilt %d files", reps[0].Built)
	}
	src := openSource(t, []string{dir}, "train", OpenOptions{Storage: Cache})
	if got := drain(t, newLoader(t, src, cfg), -1); firstDiff(got, want) != len(want) || len(got) != len(want) {
		t.Fatal("batches from the IPC cache differ from those from Parquet")
	}

	// Corrupt cache files are rebuilt on open: one that is not Arrow, one
	// with a token flipped (still valid Arrow: only the checksum tells),
	// and one whose checksum file is missing.
	files, _ := filepath.Glob(filepath.Join(DefaultCacheDir(dir), "train", "*.arrow"))
	if len(files) < 3 {
		t.Fatalf("want at least 3 cache files, have %v", files)
	}
	if err := os.WriteFile(files[1], []byte("not arrow"), 0o644); err != nil {
		t.Fatal(err)
	}
	flipped, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	in, lab := make([]byte, 16), make([]byte, 16)
	rowTokens(1, in, lab)
	at := bytes.Index(flipped, in)
	if at < 0 {
		t.Fatal("row 1's tokens not found in the first cache file")
	}
	flipped[at+8] ^= 1
	if err := os.WriteFile(files[0], flipped, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(files[2] + cacheSumSuffix); err != nil {
		t.Fatal(err)
	}
	if reps, err = BuildCache(ctx, dir, "", nil, 2); err != nil || reps[0].Built != 3 {
		t.Fatalf("BuildCache after corrupting 3 files rebuilt %+v (%v)", reps, err)
	}
	for _, f := range files[:2] {
		if err := os.Remove(f + cacheSumSuffix); err != nil {
			t.Fatal(err)
		}
	}
	src2 := openSource(t, []string{dir}, "train", OpenOptions{Storage: Cache})
	if got := drain(t, newLoader(t, src2, cfg), -1); firstDiff(got, want) != len(want) {
		t.Fatal("batches after rebuilding corrupt cache files differ")
	}

	// Rewrite the dataset with other tokens: the cache is stale and rebuilt.
	cache := DefaultCacheDir(dir)
	keep := filepath.Join(t.TempDir(), "cache")
	if err := os.Rename(cache, keep); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	spec.tokens = func(row int, in, lab []byte) { rowTokens(row+1000, in, lab) }
	writeDataset(t, dir, 600, spec)
	if err := os.Rename(keep, cache); err != nil {
		t.Fatal(err)
	}
	src3 := openSource(t, []string{dir}, "train", OpenOptions{Storage: Cache})
	got := drain(t, newLoader(t, src3, Config{Sampler: Eval, GlobalBatch: 8}), 1)
	if rowOf(got[0].Inputs) != 1000 {
		t.Fatalf("stale cache used: first row tokens say %d, want 1000", rowOf(got[0].Inputs))
	}
}

// countingAllocator records allocations and checks frees.
type countingAllocator struct {
	mu            sync.Mutex
	live          map[*byte]bool
	allocs, frees int
}

func (c *countingAllocator) Alloc(n int) ([]byte, error) {
	b, err := AlignedAllocator{}.Alloc(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[unsafe.SliceData(b)] = true
	c.allocs++
	return b, err
}

func (c *countingAllocator) Free(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live[unsafe.SliceData(b)] {
		return errors.New("free of an unknown buffer")
	}
	delete(c.live, unsafe.SliceData(b))
	c.frees++
	return nil
}

func TestAllocatorAndPool(t *testing.T) {
	dir := writeDataset(t, tempDataset(t), 1<<20, splitSpec{name: "train", shape: [2]int{3, 5}, groups: uniformGroups(60, 2, 3)})
	src := openSource(t, []string{dir}, "train", OpenOptions{})
	al := &countingAllocator{live: map[*byte]bool{}}
	l, err := New(src, Config{Sampler: Shuffle, GlobalBatch: 6, Passes: 3, Prefetch: 2, Hold: 2, Workers: 2, Allocator: al})
	if err != nil {
		t.Fatal(err)
	}
	var held []*Batch
	n := 0
	for {
		b, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, p := range []unsafe.Pointer{unsafe.Pointer(unsafe.SliceData(b.Inputs)), unsafe.Pointer(unsafe.SliceData(b.Labels)),
			unsafe.Pointer(unsafe.SliceData(b.PuzzleIdentifiers)), unsafe.Pointer(unsafe.SliceData(b.Puzzles)), unsafe.Pointer(unsafe.SliceData(b.Examples))} {
			if uintptr(p)%Alignment != 0 {
				t.Fatalf("array at %p is not %d-byte aligned", p, Alignment)
			}
		}
		// Every array lies in Buffer at its offset, which the allocator
		// handed out: one copy of Buffer moves the whole batch.
		buf, off := b.Buffer(), b.Offsets()
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		for _, a := range []struct {
			name   string
			p      unsafe.Pointer
			n, off int
		}{{"inputs", unsafe.Pointer(unsafe.SliceData(b.Inputs)), len(b.Inputs), off.Inputs},
			{"labels", unsafe.Pointer(unsafe.SliceData(b.Labels)), len(b.Labels), off.Labels},
			{"puzzle identifiers", unsafe.Pointer(unsafe.SliceData(b.PuzzleIdentifiers)), 4 * len(b.PuzzleIdentifiers), off.PuzzleIdentifiers},
			{"puzzles", unsafe.Pointer(unsafe.SliceData(b.Puzzles)), 4 * len(b.Puzzles), off.Puzzles},
			{"examples", unsafe.Pointer(unsafe.SliceData(b.Examples)), 4 * len(b.Examples), off.Examples}} {
			if uintptr(a.p) != base+uintptr(a.off) || a.off%Alignment != 0 || a.off+a.n > len(buf) {
				t.Fatalf("%s at Buffer+%d, %d bytes; Offsets says %d, Buffer holds %d", a.name, uintptr(a.p)-base, a.n, a.off, len(buf))
			}
		}
		al.mu.Lock()
		fromAllocator := al.live[unsafe.SliceData(buf)]
		al.mu.Unlock()
		if !fromAllocator {
			t.Fatal("Buffer is not a buffer the allocator handed out")
		}
		// Hold two batches at a time, as a double-buffering trainer does.
		held = append(held, b)
		if len(held) > 2 {
			held[0].Release()
			held = held[1:]
		}
	}
	if al.allocs > 2+1+2 || n < 20 {
		t.Errorf("%d buffers allocated for %d batches; the pool should recycle them (limit 5)", al.allocs, n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range held {
		b.Release()
	}
	if al.frees != al.allocs || len(al.live) != 0 {
		t.Errorf("%d allocations, %d frees after Close and release", al.allocs, al.frees)
	}
}

func TestWidenLabels(t *testing.T) {
	b := &Batch{SeqLen: 2, Rows: 1, Labels: []byte{0, 5, 7, 0}, Inputs: []byte{1, 2, 0, 0}, ignoreLabel: dataset.IntPtr(0)}
	if got := b.WidenLabels(nil); !slices.Equal(got, []int32{IgnoreLabel, 5, IgnoreLabel, IgnoreLabel}) {
		t.Errorf("WidenLabels = %v", got)
	}
	if got := b.WidenInputs(nil); !slices.Equal(got, []int32{1, 2, 0, 0}) {
		t.Errorf("WidenInputs = %v", got)
	}
	b.ignoreLabel = nil
	if got := b.WidenLabels(nil); !slices.Equal(got, []int32{0, 5, IgnoreLabel, IgnoreLabel}) {
		t.Errorf("WidenLabels without ignore_label_id = %v", got)
	}
}

// TestIdleLoaderSleeps checks that a loader whose consumer stops taking
// batches stops using the CPU once it is its prefetch depth ahead: its
// workers wait for the sampler by yielding only briefly.
func TestIdleLoaderSleeps(t *testing.T) {
	dir := writeDataset(t, tempDataset(t), 1<<20, splitSpec{name: "train", shape: [2]int{3, 5}, groups: uniformGroups(60, 2, 3)})
	src := openSource(t, []string{dir}, "train", OpenOptions{})
	l, err := New(src, Config{Sampler: Train, GlobalBatch: 6, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	time.Sleep(50 * time.Millisecond) // let it fill its queue
	cpu0, t0 := procstat.CPUTime(), time.Now()
	time.Sleep(300 * time.Millisecond)
	if cpu, wall := procstat.CPUTime()-cpu0, time.Since(t0); cpu > wall/4 {
		t.Errorf("an idle loader used %v of CPU in %v", cpu, wall)
	}
}

// TestAccessors covers the small parts of the API: sampler names, batch
// sizes and the shard-local flag.
func TestAccessors(t *testing.T) {
	for _, s := range []Sampler{Train, Eval, Shuffle} {
		if got, err := ParseSampler(s.String()); err != nil || got != s {
			t.Errorf("ParseSampler(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSampler("random"); err == nil {
		t.Error("ParseSampler accepted an unknown name")
	}
	dir := writeDataset(t, tempDataset(t), 200, splitSpec{name: "train", shape: [2]int{3, 5}, groups: uniformGroups(60, 2, 3)})
	src := openSource(t, []string{dir}, "train", OpenOptions{ShardLocal: true, Rank: 1, WorldSize: 2})
	if local, rank, world := src.ShardLocal(); !local || rank != 1 || world != 2 {
		t.Errorf("ShardLocal() = %v, %d, %d; want true, 1, 2", local, rank, world)
	}
	l := newLoader(t, src, Config{Sampler: Eval, GlobalBatch: 8, Rank: 1, WorldSize: 2})
	if l.LocalBatch() != 4 || l.BatchBytes() < 2*4*15+3*4*4 || l.BatchBytes()%Alignment != 0 {
		t.Errorf("LocalBatch %d, BatchBytes %d", l.LocalBatch(), l.BatchBytes())
	}
}

// referenceTrainBatches is the reference's _iter_train over a one-set
// split, written plainly from spec/reference-loader-eval.md 1.6 with
// nprand's numpy streams (golden-tested on their own): per iteration a
// Philox seeded seed+iteration draws epochs permutations of the groups and
// one integers(lo, hi) per visited group; the legacy stream choice draws
// that puzzle's examples (also for one-example puzzles, where numpy draws
// nothing); the incomplete last batch is dropped. It returns every batch's
// example and puzzle indices.
func referenceTrainBatches(p *Part, seed int64, epochs, batch, iterations int, choice *nprand.RandomState) (ex, pz [][]int32) {
	for it := 1; it <= iterations; it++ {
		rng := nprand.NewGenerator(uint64(seed + int64(it)))
		var order []int
		for range epochs {
			order = append(order, rng.Permutation(p.Groups())...)
		}
		for start := 0; start < len(order); {
			var bex, bpz []int32
			for start < len(order) && len(bex) < batch {
				g := order[start]
				start++
				q := rng.Integers(p.GroupIndices[g], p.GroupIndices[g+1])
				first, size := p.PuzzleIndices[q], int(p.PuzzleIndices[q+1]-p.PuzzleIndices[q])
				for _, c := range choice.Choice(size, min(size, batch-len(bex))) {
					bex, bpz = append(bex, int32(first)+int32(c)), append(bpz, int32(q))
				}
			}
			if len(bex) < batch {
				break
			}
			ex, pz = append(ex, bex), append(pz, bpz)
		}
	}
	return ex, pz
}

// TestTrainSamplerMatchesReference compares the training sampler's batches
// with referenceTrainBatches on sets whose groups are alike with one
// example per puzzle (Sudoku's shape, drawn in bulk), alike with several,
// and unlike, with batch and order boundaries falling at different places.
func TestTrainSamplerMatchesReference(t *testing.T) {
	alike := func(n, puzzles, size int) [][]int {
		out := make([][]int, n)
		for g := range out {
			out[g] = slices.Repeat([]int{size}, puzzles)
		}
		return out
	}
	for name, c := range map[string]struct {
		groups        [][]int
		batch, epochs int
	}{
		"sudoku":      {uniformGroups(37, 6, 1), 16, 3},
		"sudoku wide": {uniformGroups(20, 1001, 1), 8, 1},
		"even multi":  {alike(23, 3, 2), 10, 2},
		"uneven":      {[][]int{{1, 3}, {2}, {4, 1, 1}, {5}, {1}, {2, 2}, {3, 1, 2}}, 6, 3},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeDataset(t, tempDataset(t), 1<<20, splitSpec{name: "train", shape: [2]int{2, 2}, groups: c.groups})
			src := openSource(t, []string{dir}, "train", OpenOptions{})
			const seed, passes = 7, 3
			bs := drain(t, newLoader(t, src, Config{Sampler: Train, GlobalBatch: c.batch, Seed: seed, EpochsPerIter: c.epochs, Passes: passes}), -1)
			ex, pz := referenceTrainBatches(src.Parts[0], seed, c.epochs, c.batch, passes, nprand.NewTorchWorker(seed, 0))
			if len(bs) != len(ex) {
				t.Fatalf("%d batches, the reference %d", len(bs), len(ex))
			}
			for i, b := range bs {
				if !slices.Equal(b.Examples, ex[i]) || !slices.Equal(b.Puzzles, pz[i]) {
					t.Fatalf("batch %d:\nexamples %v\npuzzles  %v\nreference\nexamples %v\npuzzles  %v", i, b.Examples, b.Puzzles, ex[i], pz[i])
				}
			}
		})
	}
}
