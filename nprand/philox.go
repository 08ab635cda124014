package nprand

import (
	"fmt"
	"math"
	"math/bits"
)

// SeedSequence constants (numpy.random.SeedSequence, pool size 4).
const (
	ssInitA    = 0x43b0d7e5
	ssMultA    = 0x931e8875
	ssInitB    = 0x8b51f9dd
	ssMultB    = 0x58f38ded
	ssMixMultL = 0xca01f9dd
	ssMixMultR = 0x4973f715
	ssXShift   = 16
	ssPoolSize = 4
)

// SeedSequence is numpy.random.SeedSequence(entropy) without spawn keys:
// entropy words are hashed into a pool of four words, from which
// GenerateState derives seeding material.
type SeedSequence struct {
	pool [ssPoolSize]uint32
}

// NewSeedSequence mixes entropy words (least significant first, as numpy
// splits a Python int into 32-bit words) into a SeedSequence.
func NewSeedSequence(entropy ...uint32) SeedSequence {
	hashConst := uint32(ssInitA)
	hashmix := func(v uint32) uint32 {
		v ^= hashConst
		hashConst *= ssMultA
		v *= hashConst
		return v ^ v>>ssXShift
	}
	mix := func(x, y uint32) uint32 {
		r := ssMixMultL*x - ssMixMultR*y
		return r ^ r>>ssXShift
	}
	var s SeedSequence
	for i := range s.pool {
		var e uint32
		if i < len(entropy) {
			e = entropy[i]
		}
		s.pool[i] = hashmix(e)
	}
	for src := range s.pool {
		for dst := range s.pool {
			if src != dst {
				s.pool[dst] = mix(s.pool[dst], hashmix(s.pool[src]))
			}
		}
	}
	for src := ssPoolSize; src < len(entropy); src++ {
		for dst := range s.pool {
			s.pool[dst] = mix(s.pool[dst], hashmix(entropy[src]))
		}
	}
	return s
}

// SeedSequenceFromInt is numpy.random.SeedSequence(seed) for a
// non-negative integer seed: one entropy word below 2^32, two above.
func SeedSequenceFromInt(seed uint64) SeedSequence {
	if seed>>32 == 0 {
		return NewSeedSequence(uint32(seed))
	}
	return NewSeedSequence(uint32(seed), uint32(seed>>32))
}

// GenerateState returns SeedSequence.generate_state(n) as uint32 words.
func (s SeedSequence) GenerateState(n int) []uint32 {
	out := make([]uint32, n)
	hashConst := uint32(ssInitB)
	for i := range out {
		v := s.pool[i%ssPoolSize]
		v ^= hashConst
		hashConst *= ssMultB
		v *= hashConst
		out[i] = v ^ v>>ssXShift
	}
	return out
}

// Philox4x64-10 constants (Salmon et al. 2011, Random123).
const (
	philoxM0     = 0xD2E7470EE14C6C93
	philoxM1     = 0xCA5A826395121157
	philoxW0     = 0x9E3779B97F4A7C15
	philoxW1     = 0xBB67AE8584CAA73B
	philoxRounds = 10
)

// PhiloxState is the complete position of a Philox bit generator, field for
// field numpy's Philox.state (counter, key, buffer, buffer_pos, has_uint32,
// uinteger). It is a plain value and serialises with encoding/json or gob.
type PhiloxState struct {
	Counter   [4]uint64 `json:"counter"`
	Key       [2]uint64 `json:"key"`
	Buffer    [4]uint64 `json:"buffer"`
	BufferPos int       `json:"buffer_pos"`
	HasUint32 bool      `json:"has_uint32"`
	Uinteger  uint32    `json:"uinteger"`
}

// Philox is numpy.random.Philox: a counter-based generator producing four
// 64-bit words per block; 32-bit draws hand out the low half of a 64-bit
// word and keep the high half for the next 32-bit draw.
type Philox struct {
	s PhiloxState
}

// NewPhilox returns numpy.random.Philox(seed=seed): the key is
// SeedSequence(seed).generate_state(4), read as two little-endian uint64.
func NewPhilox(seed uint64) *Philox {
	w := SeedSequenceFromInt(seed).GenerateState(4)
	return NewPhiloxKey([2]uint64{
		uint64(w[0]) | uint64(w[1])<<32,
		uint64(w[2]) | uint64(w[3])<<32,
	})
}

// NewPhiloxKey returns numpy.random.Philox(key=key) with a zero counter.
func NewPhiloxKey(key [2]uint64) *Philox {
	return &Philox{s: PhiloxState{Key: key, BufferPos: 4}}
}

// philoxBlock applies the ten Philox4x64 rounds to counter c under key k.
func philoxBlock(c [4]uint64, k [2]uint64) [4]uint64 {
	for round := 0; round < philoxRounds; round++ {
		if round > 0 {
			k[0] += philoxW0
			k[1] += philoxW1
		}
		hi0, lo0 := bits.Mul64(philoxM0, c[0])
		hi1, lo1 := bits.Mul64(philoxM1, c[2])
		c = [4]uint64{hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0}
	}
	return c
}

// Uint64 returns the next raw 64-bit output (numpy's random_raw).
func (p *Philox) Uint64() uint64 {
	s := &p.s
	if s.BufferPos < 4 {
		v := s.Buffer[s.BufferPos]
		s.BufferPos++
		return v
	}
	// The 256-bit counter is incremented before use.
	var carry uint64
	s.Counter[0], carry = bits.Add64(s.Counter[0], 1, 0)
	s.Counter[1], carry = bits.Add64(s.Counter[1], 0, carry)
	s.Counter[2], carry = bits.Add64(s.Counter[2], 0, carry)
	s.Counter[3], _ = bits.Add64(s.Counter[3], 0, carry)
	s.Buffer = philoxBlock(s.Counter, s.Key)
	s.BufferPos = 1
	return s.Buffer[0]
}

// Uint32 returns the next 32-bit output: the saved high half of the last
// 64-bit word if there is one, else the low half of a fresh word.
func (p *Philox) Uint32() uint32 {
	s := &p.s
	if s.HasUint32 {
		s.HasUint32 = false
		return s.Uinteger
	}
	v := p.Uint64()
	s.HasUint32 = true
	s.Uinteger = uint32(v >> 32)
	return uint32(v)
}

// State returns the generator's current position.
func (p *Philox) State() PhiloxState { return p.s }

// Restore sets the generator to a position returned by State.
func (p *Philox) Restore(s PhiloxState) error {
	if s.BufferPos < 0 || s.BufferPos > 4 {
		return fmt.Errorf("nprand: Philox Restore: buffer_pos %d outside [0, 4]", s.BufferPos)
	}
	p.s = s
	return nil
}

// Generator is numpy.random.Generator over a Philox bit generator, with the
// methods the reference training sampler calls.
type Generator struct {
	Philox
}

// NewGenerator returns np.random.Generator(np.random.Philox(seed=seed)).
func NewGenerator(seed uint64) *Generator {
	return &Generator{Philox: *NewPhilox(seed)}
}

// RandomInterval returns an integer in [0, max] by masked rejection on the
// Philox stream (numpy's random_interval, used by Generator.shuffle).
func (g *Generator) RandomInterval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := maskFor(max)
	if max <= math.MaxUint32 {
		m32, max32 := uint32(mask), uint32(max)
		for {
			if v := g.Uint32() & m32; v <= max32 {
				return uint64(v)
			}
		}
	}
	for {
		if v := g.Uint64() & mask; v <= max {
			return v
		}
	}
}

// Integers returns Generator.integers(low, high) (default int64 dtype): an
// integer in [low, high) by Lemire's multiply-and-reject method. A range of
// one value returns low without drawing. It panics if high <= low, where
// numpy raises ValueError.
func (g *Generator) Integers(low, high int64) int64 {
	if high <= low {
		panic(fmt.Sprintf("nprand: Integers: low %d >= high %d", low, high))
	}
	span := uint64(high) - uint64(low) - 1
	switch {
	case span == 0:
		return low
	case span == math.MaxUint32:
		return low + int64(g.Uint32())
	case span < math.MaxUint32:
		return low + int64(g.lemire32(uint32(span)))
	case span == math.MaxUint64:
		return low + int64(g.Uint64())
	}
	return low + int64(g.lemire64(span))
}

// lemire32 draws from [0, span] for 0 < span < 2^32-1.
func (g *Generator) lemire32(span uint32) uint32 {
	excl := span + 1
	m := uint64(g.Uint32()) * uint64(excl)
	if uint32(m) < excl {
		threshold := (math.MaxUint32 - span) % excl
		for uint32(m) < threshold {
			m = uint64(g.Uint32()) * uint64(excl)
		}
	}
	return uint32(m >> 32)
}

// lemire64 draws from [0, span] for 2^32-1 < span < 2^64-1.
func (g *Generator) lemire64(span uint64) uint64 {
	excl := span + 1
	hi, lo := bits.Mul64(g.Uint64(), excl)
	if lo < excl {
		threshold := (math.MaxUint64 - span) % excl
		for lo < threshold {
			hi, lo = bits.Mul64(g.Uint64(), excl)
		}
	}
	return hi
}

// Shuffle permutes n items in place as Generator.shuffle does (the same
// Fisher–Yates from the end as the legacy shuffle, on the Philox stream).
func (g *Generator) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(g.RandomInterval(uint64(i))))
	}
}

// Permutation returns Generator.permutation(n): 0..n-1 shuffled.
func (g *Generator) Permutation(n int) []int {
	p := make([]int, n)
	g.PermutationInto(p)
	return p
}

// PermutationInto fills p with 0..len(p)-1 and shuffles it: the same draws
// as Generator.permutation(len(p)), without allocating.
func (g *Generator) PermutationInto(p []int) {
	for i := range p {
		p[i] = i
	}
	for i := len(p) - 1; i > 0; i-- {
		j := g.RandomInterval(uint64(i))
		p[i], p[j] = p[j], p[i]
	}
}
