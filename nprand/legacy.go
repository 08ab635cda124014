package nprand

import (
	"fmt"
	"math"
	"math/bits"
)

// IntervalSource draws a uniform integer in [0, max] the way numpy's
// random_interval does; RandomState and Generator implement it, so
// ShuffleSlice serves both.
type IntervalSource interface {
	RandomInterval(max uint64) uint64
}

// maskFor returns the smallest 2^k-1 >= v, for v > 0.
func maskFor(v uint64) uint64 {
	return ^uint64(0) >> bits.LeadingZeros64(v)
}

// RandomSample returns np.random.random_sample() (also np.random.rand()):
// a double in [0, 1) built from 27 bits of one raw draw and 26 of the next.
func (r *RandomState) RandomSample() float64 {
	a := r.Uint32() >> 5
	b := r.Uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// RandomInterval returns an integer in [0, max] by masked rejection:
// draws nothing when max is 0, one raw 32-bit draw per try when max fits in
// 32 bits, one 64-bit draw per try otherwise.
func (r *RandomState) RandomInterval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	if max <= math.MaxUint32 {
		return uint64(r.interval32(uint32(max)))
	}
	mask := maskFor(max)
	for {
		if v := r.Uint64() & mask; v <= max {
			return v
		}
	}
}

// interval32 is RandomInterval for 0 < max < 2^32, kept separate so the
// common case stays small.
func (r *RandomState) interval32(max uint32) uint32 {
	mask := uint32(maskFor(uint64(max)))
	for {
		if v := r.Uint32() & mask; v <= max {
			return v
		}
	}
}

// Randint returns np.random.randint(low, high) (default int64 dtype): an
// integer in [low, high) by masked rejection, NEVER Lemire. A range of one
// value (high == low+1) returns low without drawing. It panics if
// high <= low, where numpy raises ValueError.
func (r *RandomState) Randint(low, high int64) int64 {
	span := uint64(high) - uint64(low) - 1 // exact, also across the int64 range
	// One comparison selects the common case 0 < span <= 2^32-1 (span-1
	// wraps for span 0); the rest stays out of line so Randint inlines.
	if high > low && span-1 < math.MaxUint32 {
		return low + int64(r.interval32(uint32(span)))
	}
	return r.randintRare(low, high, span)
}

// randintRare is Randint for an empty range (panics), a one-value range
// (no draw) and spans of 2^32 or more (64-bit draws).
func (r *RandomState) randintRare(low, high int64, span uint64) int64 {
	if high <= low {
		panic(fmt.Sprintf("nprand: Randint: low %d >= high %d", low, high))
	}
	return low + int64(r.RandomInterval(span))
}

// Shuffle permutes n items in place as np.random.shuffle does: Fisher–Yates
// from the end, swap(i, j) for i = n-1 down to 1 with j = RandomInterval(i).
// n <= 1 draws nothing.
func (r *RandomState) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.RandomInterval(uint64(i))))
	}
}

// ShuffleSlice shuffles s in place with the numpy shuffle algorithm of src
// (np.random.shuffle for a RandomState, Generator.shuffle for a Generator).
func ShuffleSlice[S ~[]E, E any](src IntervalSource, s S) {
	for i := len(s) - 1; i > 0; i-- {
		j := src.RandomInterval(uint64(i))
		s[i], s[j] = s[j], s[i]
	}
}

// Permutation returns np.random.permutation(n): 0..n-1 shuffled.
func (r *RandomState) Permutation(n int) []int {
	p := make([]int, n)
	r.PermutationInto(p)
	return p
}

// PermutationInto fills p with 0..len(p)-1 and shuffles it: the same draws
// as np.random.permutation(len(p)), without allocating.
func (r *RandomState) PermutationInto(p []int) {
	for i := range p {
		p[i] = i
	}
	for i := len(p) - 1; i > 0; i-- {
		var j int
		if uint64(i) <= math.MaxUint32 {
			j = int(r.interval32(uint32(i))) // skips RandomInterval's dispatch
		} else {
			j = int(r.RandomInterval(uint64(i)))
		}
		p[i], p[j] = p[j], p[i]
	}
}

// Choice returns np.random.choice(n, size, replace=False) (no p): the first
// size entries of Permutation(n), in shuffled order. It panics if size < 0
// or size > n, where numpy raises ValueError.
func (r *RandomState) Choice(n, size int) []int {
	return r.ChoiceInto(nil, n, size)
}

// ChoiceInto is Choice using scratch as the length-n work buffer when its
// capacity allows (it grows it otherwise); the result aliases it.
func (r *RandomState) ChoiceInto(scratch []int, n, size int) []int {
	if size < 0 || size > n {
		panic(fmt.Sprintf("nprand: Choice: cannot take %d of %d without replacement", size, n))
	}
	if cap(scratch) < n {
		scratch = make([]int, n)
	}
	scratch = scratch[:n]
	r.PermutationInto(scratch)
	return scratch[:size]
}
