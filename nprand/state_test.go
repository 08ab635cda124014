package nprand

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestStateRestore checkpoints each generator mid-stream (including inside
// a Philox block with a saved 32-bit half), restores into a fresh one
// through JSON, and compares the continuation with the uninterrupted stream.
func TestStateRestore(t *testing.T) {
	r := New(42)
	for range 1000 { // crosses a twist
		r.Randint(0, 30)
	}
	saved, err := json.Marshal(r.State())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint32, 700)
	for i := range want {
		want[i] = r.Uint32()
	}
	var st State
	if err := json.Unmarshal(saved, &st); err != nil {
		t.Fatal(err)
	}
	fresh := &RandomState{}
	if err := fresh.Restore(st); err != nil {
		t.Fatal(err)
	}
	if fresh.Draws() != st.Draws {
		t.Errorf("restored Draws %d, want %d", fresh.Draws(), st.Draws)
	}
	got := make([]uint32, len(want))
	for i := range got {
		got[i] = fresh.Uint32()
	}
	if !slices.Equal(got, want) {
		t.Error("restored RandomState continues differently")
	}

	g := NewGenerator(7)
	g.Permutation(11)
	g.Uint32() // leaves a saved high half
	gsaved, err := json.Marshal(g.State())
	if err != nil {
		t.Fatal(err)
	}
	wantG := []int64{g.Integers(0, 1000), g.Integers(0, 1<<40), g.Integers(0, 3)}
	var gst PhiloxState
	if err := json.Unmarshal(gsaved, &gst); err != nil {
		t.Fatal(err)
	}
	freshG := &Generator{}
	if err := freshG.Restore(gst); err != nil {
		t.Fatal(err)
	}
	gotG := []int64{freshG.Integers(0, 1000), freshG.Integers(0, 1<<40), freshG.Integers(0, 3)}
	if !slices.Equal(gotG, wantG) {
		t.Errorf("restored Generator gives %v, want %v", gotG, wantG)
	}
	// A generator in use holds the block after its current one; Restore
	// must drop it.
	used := NewGenerator(99)
	used.Uint64() // computes blocks 1 to 8, leaves 2 to 8 ahead
	if err := used.Restore(gst); err != nil {
		t.Fatal(err)
	}
	gotU := []int64{used.Integers(0, 1000), used.Integers(0, 1<<40), used.Integers(0, 3)}
	if !slices.Equal(gotU, wantG) {
		t.Errorf("Generator restored while in use gives %v, want %v", gotU, wantG)
	}
}

// TestBelowMatchesLemire checks Below(n) draw for draw against Lemire's
// method written plainly (the rejection threshold computed every time),
// for ranges that never reject, sometimes reject (1001) and reject about
// half the time (2^31+1), and that both leave the stream at the same place.
// Integers goes through Below; numpy's own draws are checked in
// TestGoldenPhilox and TestNumpyGeneratorCrossCheck.
func TestBelowMatchesLemire(t *testing.T) {
	lemire := func(g *Generator, n uint32) uint32 {
		if n <= 1 {
			return 0
		}
		threshold := uint32((1<<32 - uint64(n)) % uint64(n))
		for {
			if m := uint64(g.Uint32()) * uint64(n); uint32(m) >= threshold {
				return uint32(m >> 32)
			}
		}
	}
	for _, n := range []uint32{1, 2, 3, 1001, 1 << 31, 1<<31 + 1, 1<<32 - 1} {
		a, b := NewGenerator(5), NewGenerator(5)
		for i := range 5000 {
			if got, want := a.Below(n), lemire(b, n); got != want {
				t.Fatalf("Below(%d) draw %d = %d, Lemire's method %d", n, i, got, want)
			}
		}
		if a.State() != b.State() {
			t.Errorf("Below(%d) leaves the stream at %+v, Lemire's method at %+v", n, a.State(), b.State())
		}
	}
}

func TestRestoreRejectsBadState(t *testing.T) {
	good := New(1).State()
	for name, mutate := range map[string]func(*State){
		"pos too large":   func(s *State) { s.Pos = 625 },
		"negative pos":    func(s *State) { s.Pos = -1 },
		"draws off twist": func(s *State) { s.Pos = 3; s.Draws = 5 },
	} {
		s := good
		mutate(&s)
		if err := (&RandomState{}).Restore(s); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
	}
	if err := (&Philox{}).Restore(PhiloxState{BufferPos: 5}); err == nil {
		t.Error("Philox Restore accepted buffer_pos 5")
	}
}

func TestPanicsOnEmptyRange(t *testing.T) {
	for name, f := range map[string]func(){
		"Randint(3, 3)":  func() { New(0).Randint(3, 3) },
		"Integers(5, 4)": func() { NewGenerator(0).Integers(5, 4) },
		"Choice(3, 4)":   func() { New(0).Choice(3, 4) },
		"Choice(3, -1)":  func() { New(0).Choice(3, -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestNoAllocations guards the builder's hot loop.
func TestNoAllocations(t *testing.T) {
	r := New(0)
	g := NewGenerator(0)
	p := make([]int, 9)
	scratch := make([]int, 16)
	var l Lookahead
	l.Reset(NewGenerator(1))
	for name, f := range map[string]func(){
		"Uint32":          func() { r.Uint32() },
		"Randint":         func() { r.Randint(0, 30) },
		"RandomSample":    func() { r.RandomSample() },
		"PermutationInto": func() { r.PermutationInto(p) },
		"ChoiceInto":      func() { r.ChoiceInto(scratch, 16, 4) },
		"Integers":        func() { g.Integers(0, 1000) },
		"Below":           func() { g.Below(1000) },
		"GenPermInto":     func() { g.PermutationInto(p) },
		"Lookahead":       func() { l.Below(1000); l.Commit() },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

// TestShuffleMatchesPermutation checks that Shuffle, one RandomInterval
// per element, makes the swaps of Permutation, which draws in bulk chunks
// (Generator.shuffle and Generator.permutation draw alike), and that both
// leave the generator at the same place; the sizes cross chunk boundaries.
func TestShuffleMatchesPermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 9, 255, 256, 257, 258, 1000, 4097} {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		a, b := NewGenerator(11), NewGenerator(11)
		a.Uint32() // start mid-word
		b.Uint32()
		a.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
		if want := b.Permutation(n); !slices.Equal(p, want) {
			t.Errorf("Shuffle(%d) gives %v, Permutation %v", n, p, want)
		}
		if a.State() != b.State() {
			t.Errorf("n=%d: Shuffle leaves %+v, Permutation %+v", n, a.State(), b.State())
		}
	}
}

// TestLookahead checks that values read through a Lookahead, by Uint32,
// Below and BelowInto, are the generator's own, across refills and commits, and that
// after each Commit the generator's state is that of one that drew them.
func TestLookahead(t *testing.T) {
	g, want := NewGenerator(21), NewGenerator(21)
	var l Lookahead
	l.Reset(g)
	for round := range 40 {
		for i := range round * 37 { // 0 to 1,443 values: several refills
			var got, exp uint32
			switch i % 4 {
			case 0:
				got, exp = l.Uint32(), want.Uint32()
			case 1:
				got, exp = l.Below(1001), want.Below(1001)
			case 2:
				got, exp = l.Below(1<<31+1), want.Below(1<<31+1) // rejects half the time
			default:
				// A run of draws in one call, for ranges that never, seldom
				// or often reject, and for n = 1, which draws nothing.
				n := []uint32{1, 8, 1001, 1<<31 + 1}[round%4]
				run := make([]uint32, (i*7)%300)
				l.BelowInto(run, n)
				for k, v := range run {
					if w := want.Below(n); v != w {
						t.Fatalf("round %d, value %d: BelowInto(%d)[%d] = %d, want %d", round, i, n, k, v, w)
					}
				}
			}
			if got != exp {
				t.Fatalf("round %d, value %d: %d, want %d", round, i, got, exp)
			}
		}
		l.Commit()
		if g.State() != want.State() {
			t.Fatalf("round %d: committed state %+v, want %+v", round, g.State(), want.State())
		}
	}
	// Reset after the generator moved on its own.
	g.Uint64()
	want.Uint64()
	l.Reset(g)
	if got, exp := l.Uint32(), want.Uint32(); got != exp {
		t.Fatalf("after Reset: %d, want %d", got, exp)
	}
}
