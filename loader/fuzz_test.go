package loader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRestore feeds arbitrary bytes to State.UnmarshalBinary and, when
// they parse, to Restore (with arbitrary position fields): a state from a corrupt checkpoint must be
// rejected with an error or yield batches, never crash the loader.
func FuzzRestore(f *testing.F) {
	dir := writeDataset(f, tempDataset(f), 300, splitSpec{name: "train", shape: [2]int{2, 3}, groups: uniformGroups(15, 3, 3)})
	src, err := Open(context.Background(), []string{dir}, "train", OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	defer src.Close()
	cfgs := map[string]Config{}
	for _, s := range []Sampler{Train, Eval, Shuffle} {
		cfg := Config{Sampler: s, GlobalBatch: 6, Seed: 1, EpochsPerIter: 2, Passes: 2, Prefetch: 1, Workers: 1}
		cfgs[s.String()] = cfg
		l, err := New(src, cfg)
		if err != nil {
			f.Fatal(err)
		}
		for k := range 4 {
			if k > 0 {
				b, err := l.Next(context.Background())
				if err != nil {
					f.Fatal(err)
				}
				b.Release()
			}
			data, err := l.State().MarshalBinary()
			if err != nil {
				f.Fatal(err)
			}
			st := l.State()
			f.Add(data, false, st.Pass, st.Part, st.Start, st.InPart, st.Iters, st.Epochs, st.Open)
			f.Add(data, true, st.Pass, st.Part+1, st.Start+7, st.InPart+1, st.Iters+1, st.Epochs+1, !st.Open)
		}
		l.Close()
	}
	// Byte mutations rarely keep the JSON valid, so the position fields
	// are also fuzzed directly when override is set.
	f.Fuzz(func(t *testing.T, data []byte, override bool, pass, part int, start, inPart, iters int64, epochs int, open bool) {
		var st State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		if override {
			st.Pass, st.Part, st.Start, st.InPart, st.Iters, st.Epochs, st.Open = pass, part, start, inPart, iters, epochs, open
		}
		cfg, ok := cfgs[st.Sampler]
		if !ok {
			return
		}
		l, err := New(src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Restore(st); err != nil {
			return
		}
		for range 3 {
			b, err := l.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Rows > b.LocalBatch() || len(b.Inputs) != b.LocalBatch()*b.SeqLen {
				t.Fatalf("restored loader made a malformed batch: %d rows of %d", b.Rows, b.LocalBatch())
			}
			b.Release()
		}
	})
}

// FuzzCacheFile puts arbitrary bytes where a shard's IPC cache file and
// its checksum file live and opens the split from the cache: a corrupt
// cache must be rebuilt from the shard or rejected with an error, never
// crash the process, and a source that opens must hold the split's rows.
func FuzzCacheFile(f *testing.F) {
	ctx := context.Background()
	dir := writeDataset(f, tempDataset(f), 1<<20, splitSpec{name: "train", shape: [2]int{2, 3}, groups: uniformGroups(12, 2, 3)})
	if _, err := BuildCache(ctx, dir, "", nil, 1); err != nil {
		f.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(DefaultCacheDir(dir), "train", "*.arrow"))
	if err != nil || len(files) != 1 {
		f.Fatalf("want one cache file, have %v (%v)", files, err)
	}
	cacheFile, sumFile := files[0], files[0]+cacheSumSuffix
	valid, err := os.ReadFile(cacheFile)
	if err != nil {
		f.Fatal(err)
	}
	sum, err := os.ReadFile(sumFile)
	if err != nil {
		f.Fatal(err)
	}
	want := sourceRows(openSource(f, []string{dir}, "train", OpenOptions{}))
	f.Add(valid, sum)
	f.Add(valid, []byte("0000000000000000\n"))
	f.Add(valid, []byte{})
	f.Add(valid[:len(valid)/2], sum)
	f.Add(valid[:len(valid)-10], sum)
	for _, at := range []int{len(valid) / 3, len(valid) / 2, 2 * len(valid) / 3} {
		flipped := bytes.Clone(valid)
		flipped[at] ^= 0x55
		f.Add(flipped, sum)
	}
	f.Add([]byte("ARROW1\x00\x00ARROW1"), sum)
	f.Fuzz(func(t *testing.T, data, sum []byte) {
		if err := os.WriteFile(cacheFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sumFile, sum, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(ctx, []string{dir}, "train", OpenOptions{Storage: Cache, Workers: 1})
		if err != nil {
			return
		}
		defer src.Close()
		if got := sourceRows(src); got != want {
			t.Fatalf("opened %d rows from the cache, the split has %d", got, want)
		}
	})
}

func sourceRows(src *Source) int64 {
	var n int64
	for _, p := range src.Parts {
		n += p.Rows()
	}
	return n
}
