package nprand

import (
	"errors"
	"fmt"
)

// MT19937 parameters (Matsumoto & Nishimura 1998), as numpy's randomkit uses them.
const (
	stateWords = 624
	shiftWords = 397
	matrixA    = 0x9908b0df
	upperMask  = 0x80000000
	lowerMask  = 0x7fffffff
)

// RandomState is numpy's legacy RandomState (the generator behind the
// module-level np.random.* functions): MT19937 with numpy's seeding and
// numpy's legacy algorithms for bounded integers, doubles and shuffles.
//
// The zero value is not seeded; use New, NewFromArray, Seed or SeedArray.
// A RandomState holds no pointers, so copying the struct forks the stream.
type RandomState struct {
	mt [stateWords]uint32
	// out holds the tempered outputs of mt, computed in bulk at each twist
	// so that Uint32 stays small enough to inline.
	out [stateWords]uint32
	pos int
	// twists counts regenerations of mt since seeding; with pos it gives the
	// number of raw draws without a counter on the hot path.
	twists uint64
}

// New returns a RandomState seeded as np.random.seed(seed).
func New(seed uint32) *RandomState {
	r := &RandomState{}
	r.Seed(seed)
	return r
}

// NewFromArray returns a RandomState seeded as
// np.random.seed(np.array(key, dtype=np.uint32)); see SeedArray.
func NewFromArray(key []uint32) (*RandomState, error) {
	r := &RandomState{}
	if err := r.SeedArray(key); err != nil {
		return nil, err
	}
	return r, nil
}

// Seed reseeds as np.random.seed(seed) with an integer: MT19937's
// init_genrand (not init_by_array, unlike Python's random.seed).
func (r *RandomState) Seed(seed uint32) {
	r.mt[0] = seed
	for i := 1; i < stateWords; i++ {
		prev := r.mt[i-1]
		r.mt[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	r.pos = stateWords
	r.twists = 0
}

// SeedArray reseeds as np.random.seed(array) with an array of uint32 words:
// MT19937's init_by_array. As in numpy, a one-element array is squeezed to a
// scalar first, so it seeds exactly like Seed(key[0]). An empty key is an
// error (numpy raises ValueError).
func (r *RandomState) SeedArray(key []uint32) error {
	switch len(key) {
	case 0:
		return errors.New("nprand: SeedArray: seed must be non-empty")
	case 1:
		r.Seed(key[0])
		return nil
	}
	r.initByArray(key)
	return nil
}

// initByArray is MT19937's init_by_array, for len(key) >= 1.
func (r *RandomState) initByArray(key []uint32) {
	r.Seed(19650218)
	mt := &r.mt
	i, j := 1, 0
	for k := max(stateWords, len(key)); k > 0; k-- {
		prev := mt[i-1]
		mt[i] = (mt[i] ^ ((prev ^ (prev >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= stateWords {
			mt[0] = mt[stateWords-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := stateWords - 1; k > 0; k-- {
		prev := mt[i-1]
		mt[i] = (mt[i] ^ ((prev ^ (prev >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= stateWords {
			mt[0] = mt[stateWords-1]
			i = 1
		}
	}
	mt[0] = 0x80000000 // guarantees a non-zero state
	r.pos = stateWords
	r.twists = 0
}

// twist regenerates all 624 words (the standard MT19937 recurrence, split
// into three loops so that no index needs a modulo).
func (r *RandomState) twist() {
	mt := &r.mt
	kk := 0
	for ; kk < stateWords-shiftWords; kk++ {
		y := (mt[kk] & upperMask) | (mt[kk+1] & lowerMask)
		mt[kk] = mt[kk+shiftWords] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	for ; kk < stateWords-1; kk++ {
		y := (mt[kk] & upperMask) | (mt[kk+1] & lowerMask)
		mt[kk] = mt[kk+shiftWords-stateWords] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	y := (mt[stateWords-1] & upperMask) | (mt[0] & lowerMask)
	mt[stateWords-1] = mt[shiftWords-1] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	r.temper()
	r.pos = 0
	r.twists++
}

// temper fills out with the tempered outputs of the current mt words.
func (r *RandomState) temper() {
	for i, y := range &r.mt {
		y ^= y >> 11
		y ^= (y << 7) & 0x9d2c5680
		y ^= (y << 15) & 0xefc60000
		y ^= y >> 18
		r.out[i] = y
	}
}

// Uint32 returns the next raw 32-bit output (genrand_int32; numpy's
// random_raw / randint(0, 2**32, dtype=np.uint32)).
func (r *RandomState) Uint32() uint32 {
	if r.pos >= stateWords {
		r.twist()
	}
	y := r.out[r.pos]
	r.pos++
	return y
}

// Uint64 returns numpy's legacy 64-bit draw: two raw draws, the FIRST one
// being the high word.
func (r *RandomState) Uint64() uint64 {
	hi := uint64(r.Uint32())
	return hi<<32 | uint64(r.Uint32())
}

// Draws returns the number of raw 32-bit outputs consumed since seeding
// (a 64-bit draw counts two).
func (r *RandomState) Draws() uint64 {
	return r.twists*stateWords + uint64(r.pos) - stateWords
}

// State is the complete position of a RandomState. Key and Pos are what
// numpy's get_state() reports as ('MT19937', key, pos, ...); Draws is the
// raw draw count since seeding (for a state taken from numpy, set Draws to
// Pos). State is a plain value and serialises with encoding/json or gob.
type State struct {
	Key   [stateWords]uint32 `json:"key"`
	Pos   int                `json:"pos"`
	Draws uint64             `json:"draws"`
}

// State returns the generator's current position.
func (r *RandomState) State() State {
	return State{Key: r.mt, Pos: r.pos, Draws: r.Draws()}
}

// Restore sets the generator to a position returned by State; the stream
// then continues exactly as it would have from there.
func (r *RandomState) Restore(s State) error {
	if s.Pos < 0 || s.Pos > stateWords {
		return fmt.Errorf("nprand: Restore: pos %d outside [0, %d]", s.Pos, stateWords)
	}
	// Draws = twists*624 + pos - 624 must hold for a whole number of twists.
	base := s.Draws + stateWords - uint64(s.Pos)
	if s.Draws+stateWords < uint64(s.Pos) || base%stateWords != 0 {
		return fmt.Errorf("nprand: Restore: draw count %d does not match pos %d", s.Draws, s.Pos)
	}
	r.mt = s.Key
	r.temper()
	r.pos = s.Pos
	r.twists = base / stateWords
	return nil
}
