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
