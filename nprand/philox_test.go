package nprand

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// philoxBlock is one Philox4x64-10 block written plainly from Salmon et
// al. 2011, the reference the batched versions are checked against.
func philoxBlock(c [4]uint64, k [2]uint64) [4]uint64 {
	for r := range philoxRounds {
		if r > 0 {
			k[0] += philoxW0
			k[1] += philoxW1
		}
		hi0, lo0 := bits.Mul64(philoxM0, c[0])
		hi1, lo1 := bits.Mul64(philoxM1, c[2])
		c = [4]uint64{hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0}
	}
	return c
}

// TestPhiloxBlocksMatchOneBlock checks the batched block computations (the
// portable one and the one this CPU dispatches to) against philoxBlock on
// random counters and keys, with carries across counter words, and the
// counters' layout against philoxCounters.
func TestPhiloxBlocksMatchOneBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	impls := map[string]func(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64){
		"generic": philoxBlocksGeneric, "dispatched": philoxBlocks,
	}
	for name, impl := range impls {
		for trial := range 200 {
			key := [2]uint64{rng.Uint64(), rng.Uint64()}
			base := [4]uint64{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
			if trial%3 == 0 {
				base[0] = math.MaxUint64 - 3 // the batch carries into word 1
			}
			var ctr, out [4 * philoxBatch]uint64
			var want [philoxBatch][4]uint64
			for b := range philoxBatch {
				c := base
				advance(&c, uint64(b))
				for j := range 4 {
					ctr[32*(b/8)+8*j+b%8] = c[j]
				}
				want[b] = philoxBlock(c, key)
			}
			if philoxCounters(base) != ctr {
				t.Fatalf("philoxCounters lays out %x, want %x", philoxCounters(base), ctr)
			}
			impl(&out, &ctr, &key)
			for b := range philoxBatch {
				if got := [4]uint64(out[4*b : 4*b+4]); got != want[b] {
					t.Fatalf("%s: block %d of trial %d = %x, want %x", name, b, trial, got, want[b])
				}
			}
		}
	}
}

// positioned returns a generator moved to a random place: a random number
// of mixed 64- and 32-bit draws, so that it may sit anywhere in a block,
// with or without a saved half, with blocks computed ahead or not.
func positioned(rng *rand.Rand) *Generator {
	g := NewGenerator(rng.Uint64())
	if rng.IntN(4) == 0 {
		g.s.Counter[0] = math.MaxUint64 - uint64(rng.IntN(20)) // carries ahead
	}
	for range rng.IntN(80) {
		if rng.IntN(3) == 0 {
			g.Uint64()
		} else {
			g.Uint32()
		}
	}
	if rng.IntN(3) == 0 {
		_ = g.Restore(g.State()) // nothing computed ahead
	}
	return g
}

// eachPosition calls check for trials generators at random places
// (positioned), each with a copy of itself and a count of draws below short
// (below long every tenth trial).
func eachPosition(seed uint64, trials, short, long int, check func(trial int, a, b *Generator, n int)) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for trial := range trials {
		a := positioned(rng)
		b := *a
		n := rng.IntN(short)
		if trial%10 == 0 {
			n = rng.IntN(long)
		}
		check(trial, a, &b, n)
	}
}

// TestUint32sMatchesUint32 checks the bulk draw value for value against
// single draws from every kind of position, and that both leave the
// generator in the same state.
func TestUint32sMatchesUint32(t *testing.T) {
	eachPosition(3, 2000, 200, 5000, func(trial int, a, b *Generator, n int) {
		got := make([]uint32, n)
		a.Uint32s(got)
		for i := range got {
			if want := b.Uint32(); got[i] != want {
				t.Fatalf("trial %d: value %d of %d = %d, want %d", trial, i, n, got[i], want)
			}
		}
		if a.State() != b.State() {
			t.Fatalf("trial %d: Uint32s(%d) leaves %+v, single draws %+v", trial, n, a.State(), b.State())
		}
		if a.Uint64() != b.Uint64() || a.Uint32() != b.Uint32() {
			t.Fatalf("trial %d: the streams continue differently", trial)
		}
	})
}

// TestSkip32MatchesUint32 checks that skipping n values leaves the
// generator where n draws do, for short and long skips from every kind of
// position, and that the stream continues the same.
func TestSkip32MatchesUint32(t *testing.T) {
	eachPosition(5, 3000, 100, 10000, func(trial int, a, b *Generator, n int) {
		a.Skip32(uint64(n))
		for range n {
			b.Uint32()
		}
		if a.State() != b.State() {
			t.Fatalf("trial %d: Skip32(%d) leaves %+v, draws %+v", trial, n, a.State(), b.State())
		}
		for i := range 40 {
			if x, y := a.Uint32(), b.Uint32(); x != y {
				t.Fatalf("trial %d: value %d after the skip = %d, want %d", trial, i, x, y)
			}
		}
	})
}
