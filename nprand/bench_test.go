package nprand

import (
	"math/rand/v2"
	"testing"
)

// reportDraws reports calls per second; each benchmark makes b.N calls.
func reportDraws(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "draws/s")
}

// sink keeps results alive so the compiler cannot drop the calls.
var sink uint64

// BenchmarkBaselinePCG is Go's PCG Uint32, a reference point for the
// MT19937 figures measured in the same run.
func BenchmarkBaselinePCG(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var acc uint32
	for b.Loop() {
		acc += r.Uint32()
	}
	sink += uint64(acc)
	reportDraws(b)
}

func BenchmarkUint32(b *testing.B) {
	r := New(0)
	var acc uint32
	for b.Loop() {
		acc += r.Uint32()
	}
	sink += uint64(acc)
	reportDraws(b)
}

// BenchmarkRandint30 is the ARC translation draw (mask 31, rejects 30 and 31).
func BenchmarkRandint30(b *testing.B) {
	r := New(0)
	var acc int64
	for b.Loop() {
		acc += r.Randint(0, 30)
	}
	sink += uint64(acc)
	reportDraws(b)
}

func BenchmarkRandomSample(b *testing.B) {
	r := New(0)
	var acc float64
	for b.Loop() {
		acc += r.RandomSample()
	}
	sink += uint64(acc)
	reportDraws(b)
}

// BenchmarkPermutation9 is the ARC/Sudoku colour permutation; draws/s counts
// permutations.
func BenchmarkPermutation9(b *testing.B) {
	r := New(0)
	p := make([]int, 9)
	for b.Loop() {
		r.PermutationInto(p)
	}
	sink += uint64(p[0])
	reportDraws(b)
}

func BenchmarkPhiloxUint64(b *testing.B) {
	g := NewGenerator(1)
	var acc uint64
	for b.Loop() {
		acc += g.Uint64()
	}
	sink += acc
	reportDraws(b)
}

func BenchmarkGeneratorIntegers(b *testing.B) {
	g := NewGenerator(1)
	var acc int64
	for b.Loop() {
		acc += g.Integers(5, 1006)
	}
	sink += uint64(acc)
	reportDraws(b)
}

// BenchmarkPhiloxBlocks times a batch of Philox blocks, computed by the portable
// code ("generic", the baseline) and by the version this CPU dispatches to
// (AVX-512 on amd64 where present): compare ns/op within one run.
func BenchmarkPhiloxBlocks(b *testing.B) {
	for _, c := range []struct {
		name string
		f    func(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64)
	}{{"generic", philoxBlocksGeneric}, {"dispatched", philoxBlocks}} {
		f := c.f
		b.Run(c.name, func(b *testing.B) {
			var ctr, out [4 * philoxBatch]uint64
			key := [2]uint64{1, 2}
			for b.Loop() {
				ctr[0]++
				f(&out, &ctr, &key)
			}
			sink += out[0]
			b.ReportMetric(float64(b.N*philoxBatch)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// BenchmarkUint32s draws 512 values in bulk next to 512 single Uint32
// calls on the same stream; values/s compare the two.
func BenchmarkUint32s(b *testing.B) {
	var buf [512]uint32
	b.Run("bulk", func(b *testing.B) {
		g := NewGenerator(1)
		for b.Loop() {
			g.Uint32s(buf[:])
		}
		sink += uint64(buf[0])
		b.ReportMetric(float64(b.N*len(buf))/b.Elapsed().Seconds(), "values/s")
	})
	b.Run("single", func(b *testing.B) {
		g := NewGenerator(1)
		for b.Loop() {
			for i := range buf {
				buf[i] = g.Uint32()
			}
		}
		sink += uint64(buf[0])
		b.ReportMetric(float64(b.N*len(buf))/b.Elapsed().Seconds(), "values/s")
	})
}

// BenchmarkGeneratorPermutation1000 is the training sampler's group order
// for a Sudoku set of 1,000 groups; draws/s counts permutations.
func BenchmarkGeneratorPermutation1000(b *testing.B) {
	g := NewGenerator(1)
	p := make([]int, 1000)
	for b.Loop() {
		g.PermutationInto(p)
	}
	sink += uint64(p[0])
	reportDraws(b)
}
