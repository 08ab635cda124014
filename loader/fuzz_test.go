package loader

import (
	"context"
	"errors"
	"io"
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
