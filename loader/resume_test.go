package loader

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// resumeFixture writes two small datasets with many shards: groups of 1-4
// puzzles of 1-3 examples, 8-token rows.
func resumeFixture(t *testing.T) []string {
	t.Helper()
	a := writeDataset(t, tempDataset(t), 480, splitSpec{name: "train", shape: [2]int{2, 4}, groups: uniformGroups(37, 3, 3), numIDs: 246})
	b := writeDataset(t, tempDataset(t)+"b", 480, splitSpec{name: "train", shape: [2]int{2, 4}, groups: uniformGroups(23, 2, 4),
		ids: func() []int32 {
			ids := make([]int32, 46)
			for i := range ids {
				ids[i] = int32(200 + i)
			}
			return ids
		}(), numIDs: 246})
	return []string{a, b}
}

func TestResume(t *testing.T) {
	dirs := resumeFixture(t)
	type mode struct {
		name       string
		world      int
		shardLocal bool
	}
	for _, smp := range []Sampler{Train, Eval, Shuffle} {
		for _, m := range []mode{{"single", 1, false}, {"ranks", 2, false}, {"shardlocal", 2, true}} {
			for rank := range m.world {
				t.Run(fmt.Sprintf("%s/%s/rank%d", smp, m.name, rank), func(t *testing.T) {
					paths := dirs
					if m.shardLocal {
						paths = dirs[:1] // the reference merges datasets by set; shard-local reads one
					}
					src := openSource(t, paths, "train", OpenOptions{ShardLocal: m.shardLocal, Rank: rank, WorldSize: m.world})
					cfg := Config{Sampler: smp, GlobalBatch: 8, Rank: rank, WorldSize: m.world, Seed: 3, EpochsPerIter: 2, Passes: 3, Prefetch: 3}
					ref := drain(t, newLoader(t, src, cfg), -1)
					if len(ref) < 6 {
						t.Fatalf("only %d batches", len(ref))
					}
					// Stop points: the start, inside the first pass, at every
					// end of a set or pass, the last batch, the end.
					stops := []int{0, 1, len(ref) / 3, len(ref) - 1, len(ref)}
					for i, b := range ref {
						if b.Last || (i+1 < len(ref) && ref[i+1].Set != b.Set) {
							stops = append(stops, i+1)
						}
					}
					for _, k := range stops {
						a := newLoader(t, src, cfg)
						got := drain(t, a, k)
						if firstDiff(got, ref[:k]) != k {
							t.Fatalf("the first %d batches differ between two loaders", k)
						}
						data, err := json.Marshal(a.State())
						if err != nil {
							t.Fatal(err)
						}
						var st State
						if err := json.Unmarshal(data, &st); err != nil {
							t.Fatal(err)
						}
						c := cfg
						c.Workers, c.Prefetch = 1, 1 // the result must not depend on either
						b := newLoader(t, src, c)
						if err := b.Restore(st); err != nil {
							t.Fatal(err)
						}
						rest := drain(t, b, -1)
						if len(rest) != len(ref)-k || firstDiff(rest, ref[k:]) != len(rest) {
							t.Fatalf("after restoring at batch %d: %d batches, want %d; first difference at %d", k, len(rest), len(ref)-k, firstDiff(rest, ref[k:]))
						}
						// Restore also works on a loader that has run ahead.
						drain(t, a, 2)
						if err := a.Restore(st); err != nil {
							t.Fatal(err)
						}
						if again := drain(t, a, -1); len(again) != len(ref)-k || firstDiff(again, ref[k:]) != len(again) {
							t.Fatalf("restoring a running loader at batch %d differs at %d", k, firstDiff(again, ref[k:]))
						}
					}
				})
			}
		}
	}
}

func firstDiff(a, b []snap) int {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRestoreRejectsOtherRun(t *testing.T) {
	dirs := resumeFixture(t)
	src := openSource(t, dirs, "train", OpenOptions{})
	l := newLoader(t, src, Config{Sampler: Train, GlobalBatch: 8, Seed: 1})
	drain(t, l, 3)
	st := l.State()
	for name, cfg := range map[string]Config{
		"seed":    {Sampler: Train, GlobalBatch: 8, Seed: 2},
		"batch":   {Sampler: Train, GlobalBatch: 4, Seed: 1},
		"sampler": {Sampler: Shuffle, GlobalBatch: 8, Seed: 1},
		"rank":    {Sampler: Train, GlobalBatch: 8, Seed: 1, Rank: 1, WorldSize: 2},
	} {
		other := newLoader(t, src, cfg)
		if err := other.Restore(st); err == nil {
			t.Errorf("%s: restoring a state of another run succeeded", name)
		}
	}
	bad := st
	bad.Version = 99
	if err := l.Restore(bad); err == nil {
		t.Error("restoring a state of another version succeeded")
	}
	bad = st
	bad.Start = 1 << 40
	if err := l.Restore(bad); err == nil {
		t.Error("restoring a start beyond the group order succeeded")
	}
}

// TestOrdersDrawnAhead runs the train and shuffle samplers with every set's
// order drawn ahead on its own goroutine (normally only large orders are)
// and compares the batches, also after restoring mid-run, with orders drawn
// in place.
func TestOrdersDrawnAhead(t *testing.T) {
	dirs := resumeFixture(t)
	src := openSource(t, dirs, "train", OpenOptions{})
	for _, smp := range []Sampler{Train, Shuffle} {
		t.Run(smp.String(), func(t *testing.T) {
			cfg := Config{Sampler: smp, GlobalBatch: 8, Seed: 5, EpochsPerIter: 2, Passes: 4}
			loader := func(ahead int64) *Loader {
				l := newLoader(t, src, cfg)
				l.smp.aheadFrom = ahead
				return l
			}
			ref := drain(t, loader(1<<62), -1)
			got := drain(t, loader(0), -1)
			if len(got) != len(ref) || firstDiff(got, ref) != len(ref) {
				t.Fatalf("%d batches with orders drawn ahead, %d in place; first difference at %d", len(got), len(ref), firstDiff(got, ref))
			}
			for _, k := range []int{1, len(ref) / 2, len(ref) - 1} {
				a := loader(0)
				drain(t, a, k)
				b := loader(0)
				if err := b.Restore(a.State()); err != nil {
					t.Fatal(err)
				}
				if rest := drain(t, b, -1); firstDiff(rest, ref[k:]) != len(ref)-k || len(rest) != len(ref)-k {
					t.Fatalf("restored at batch %d: first difference at %d", k, firstDiff(rest, ref[k:]))
				}
			}
		})
	}
}
