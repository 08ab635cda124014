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
	// ahead[4*next:4*filled] are the blocks after s.Buffer, for counters
	// s.Counter+1 onwards: blocks are computed philoxBatch at a time
	// (philoxBlocks), four times faster per block than in pairs as needed.
	// They are derived from the state, so State ignores them and Restore
	// drops them.
	ahead        [4 * philoxBatch]uint64
	next, filled int
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

// advance adds n to the 256-bit counter c; the carry into the upper
// words, taken once in 2^64 blocks, is kept off the common path.
func advance(c *[4]uint64, n uint64) {
	lo, carry := bits.Add64(c[0], n, 0)
	c[0] = lo
	if carry != 0 {
		c[1], carry = bits.Add64(c[1], 1, 0)
		c[2], carry = bits.Add64(c[2], 0, carry)
		c[3], _ = bits.Add64(c[3], 0, carry)
	}
}

// Uint64 returns the next raw 64-bit output (numpy's random_raw).
func (p *Philox) Uint64() uint64 {
	s := &p.s
	if s.BufferPos < 4 {
		v := s.Buffer[s.BufferPos&3]
		s.BufferPos++
		return v
	}
	return p.refill()
}

// refill moves to the next block and returns its first word. It is kept
// out of line so that the buffered paths of Uint64 and Uint32 inline.
//
//go:noinline
func (p *Philox) refill() uint64 {
	p.nextBlock()
	p.s.BufferPos = 1
	return p.s.Buffer[0]
}

// nextBlock increments the counter (numpy increments before use) and puts
// its block in s.Buffer.
func (p *Philox) nextBlock() {
	advance(&p.s.Counter, 1)
	if p.next >= p.filled {
		p.computeAhead()
	}
	copy(p.s.Buffer[:], p.ahead[4*p.next:4*p.next+4])
	p.next++
}

// computeAhead computes the philoxBatch blocks from counter s.Counter on.
func (p *Philox) computeAhead() {
	ctr := philoxCounters(p.s.Counter)
	philoxBlocks(&p.ahead, &ctr, &p.s.Key)
	p.next, p.filled = 0, philoxBatch
}

// Uint32 returns the next 32-bit output: the saved high half of the last
// 64-bit word if there is one, else the low half of a fresh word. The
// saved-half path inlines: the samplers draw millions of 32-bit values.
func (p *Philox) Uint32() uint32 {
	if p.s.HasUint32 {
		p.s.HasUint32 = false
		return p.s.Uinteger
	}
	return p.uint32Word()
}

// uint32Word is Uint32 without a saved half: it takes a fresh word and
// saves its high half.
//
//go:noinline
func (p *Philox) uint32Word() uint32 {
	v := p.Uint64()
	p.s.HasUint32 = true
	p.s.Uinteger = uint32(v >> 32)
	return uint32(v)
}

// Uint32s fills dst with the next len(dst) outputs of Uint32, leaving the
// generator where that many calls would. Whole blocks are copied out
// eight values at a time: the 32-bit stream of a block is its words' low
// and high halves in order.
func (p *Philox) Uint32s(dst []uint32) {
	s := &p.s
	if len(dst) > 0 && s.HasUint32 {
		dst[0] = s.Uinteger
		s.HasUint32 = false
		dst = dst[1:]
	}
	for len(dst) >= 2 && s.BufferPos < 4 {
		w := s.Buffer[s.BufferPos]
		s.BufferPos++
		dst[0], dst[1] = uint32(w), uint32(w>>32)
		// Single draws leave the spent high half of their last word in
		// the state (numpy's uinteger); so does this.
		s.Uinteger = uint32(w >> 32)
		dst = dst[2:]
	}
	if len(dst) >= 8 {
		// Whole blocks, straight from those computed ahead; the last one
		// becomes the current block. This is nextBlock written out:
		// calling it per block, which copies each block into s.Buffer,
		// made BenchmarkUint32s/bulk 17% slower (580 -> 690 ns).
		for ; len(dst) >= 8; dst = dst[8:] {
			advance(&s.Counter, 1)
			if p.next >= p.filled {
				p.computeAhead()
			}
			blk := (*[4]uint64)(p.ahead[4*p.next:])
			p.next++
			dst[0], dst[1] = uint32(blk[0]), uint32(blk[0]>>32)
			dst[2], dst[3] = uint32(blk[1]), uint32(blk[1]>>32)
			dst[4], dst[5] = uint32(blk[2]), uint32(blk[2]>>32)
			dst[6], dst[7] = uint32(blk[3]), uint32(blk[3]>>32)
		}
		s.Buffer = *(*[4]uint64)(p.ahead[4*(p.next-1):])
		s.BufferPos = 4
		s.Uinteger = uint32(s.Buffer[3] >> 32)
	}
	for i := range dst {
		dst[i] = p.Uint32()
	}
}

// Skip32 moves the generator past n outputs of Uint32 without drawing
// them: only the block it lands in is computed.
func (p *Philox) Skip32(n uint64) {
	s := &p.s
	if n > 0 && s.HasUint32 {
		s.HasUint32 = false
		n--
	}
	words := n / 2
	if avail := uint64(4 - s.BufferPos); words <= avail {
		s.BufferPos += int(words)
	} else {
		words -= avail
		// Enter the blocks up to the one holding the last word; only that
		// one is computed (a block ahead of it, if any, is reused).
		blocks := (words + 3) / 4
		skipped := blocks - 1
		if uint64(p.filled-p.next) > skipped {
			p.next += int(skipped)
		} else {
			p.next = p.filled
		}
		advance(&s.Counter, skipped)
		p.nextBlock()
		s.BufferPos = int(words - 4*skipped)
	}
	if words > 0 {
		s.Uinteger = uint32(s.Buffer[s.BufferPos-1] >> 32) // as Uint32s
	}
	if n%2 == 1 {
		p.uint32Word()
	}
}

// State returns the generator's current position.
func (p *Philox) State() PhiloxState { return p.s }

// Restore sets the generator to a position returned by State.
func (p *Philox) Restore(s PhiloxState) error {
	if s.BufferPos < 0 || s.BufferPos > 4 {
		return fmt.Errorf("nprand: Philox Restore: buffer_pos %d outside [0, 4]", s.BufferPos)
	}
	p.s = s
	p.next, p.filled = 0, 0
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
		return low + int64(g.Below(uint32(span)+1))
	case span == math.MaxUint64:
		return low + int64(g.Uint64())
	}
	return low + int64(g.lemire64(span))
}

// Below returns Generator.integers(0, n) for 0 < n < 2^32: the same draws
// as Integers(low, low+n) - low. n = 1 draws nothing, as numpy.
func (g *Generator) Below(n uint32) uint32 { return lemire32(n, g.Uint32) }

// lemire32 draws from [0, n) by Lemire's multiply-and-reject method on the
// 32-bit values draw returns, as numpy's integers does for 32-bit ranges;
// the rejection threshold is computed only when a product falls in the
// low zone where it may reject.
func lemire32(n uint32, draw func() uint32) uint32 {
	if n <= 1 {
		return 0
	}
	m := uint64(draw()) * uint64(n)
	if uint32(m) < n {
		threshold := -n % n // (2^32 - n) mod n
		for uint32(m) < threshold {
			m = uint64(draw()) * uint64(n)
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
// as Generator.permutation(len(p)), without allocating. It is
// RandomInterval inlined, with the mask updated as i falls rather than
// recomputed per element, the draws taken in bulk, and no branch on
// acceptance: a quarter of the draws are rejected at random, and the
// mispredicted branches cost more than swapping an element with itself.
func (g *Generator) PermutationInto(p []int) {
	for i := range p {
		p[i] = i
	}
	n := len(p)
	if n < 2 {
		return
	}
	if uint64(n-1) > math.MaxUint32 {
		for i := n - 1; i > 0; i-- {
			j := g.RandomInterval(uint64(i))
			p[i], p[j] = p[j], p[i]
		}
		return
	}
	var buf [256]uint32
	mask := uint32(maskFor(uint64(n - 1)))
	i := uint32(n - 1)
	for i > 0 {
		// Each of the i elements left takes at least one draw, so a chunk
		// of at most i draws is used up: the generator stays exact.
		chunk := buf[:min(int(i), len(buf))]
		g.Uint32s(chunk)
		for _, v := range chunk {
			for mask>>1 >= i {
				mask >>= 1
			}
			v &= mask
			reject := uint32((uint64(i) - uint64(v)) >> 63) // v > i
			j := i ^ (i^v)&(reject-1)                       // v, or i when rejected
			p[i], p[j] = p[j], p[i]
			i -= 1 - reject
		}
	}
}

// Lookahead hands out a generator's 32-bit outputs one at a time from a
// buffer filled in bulk (Uint32s), for loops that draw many values, such
// as the training sampler's one draw per row. Commit moves the generator
// past the values handed out; between Reset and the last Commit nothing
// else may draw from it.
type Lookahead struct {
	g     *Generator
	ahead Generator // a copy of g, moved past the buffered values
	buf   [256]uint32
	next  uint // index of the next value in buf; len(buf) when empty
	// Values handed out since the last Commit: spent from earlier
	// buffers, and buf[mark:next].
	spent uint64
	mark  uint
}

// Reset starts handing out g's outputs from its current position.
func (l *Lookahead) Reset(g *Generator) {
	l.g, l.ahead = g, *g
	l.next, l.mark, l.spent = uint(len(l.buf)), uint(len(l.buf)), 0
}

// Uint32 returns the next output of the generator.
func (l *Lookahead) Uint32() uint32 {
	if l.next >= uint(len(l.buf)) {
		l.fill()
	}
	v := l.buf[l.next]
	l.next++
	return v
}

func (l *Lookahead) fill() {
	l.spent += uint64(l.next - l.mark)
	l.ahead.Uint32s(l.buf[:])
	l.next, l.mark = 0, 0
}

// Below is Generator.Below on the generator's outputs.
func (l *Lookahead) Below(n uint32) uint32 { return lemire32(n, l.Uint32) }

// BelowInto fills dst with successive Below(n) draws, without a call per
// value: the training sampler's puzzle choices for a batch of groups that
// all hold n puzzles.
func (l *Lookahead) BelowInto(dst []uint32, n uint32) {
	if n <= 1 {
		clear(dst) // Below(1) draws nothing
		return
	}
	for len(dst) > 0 {
		buf := l.buf[l.next:]
		k := 0
		for ; k < len(buf) && k < len(dst); k++ {
			m := uint64(buf[k]) * uint64(n)
			if uint32(m) < n {
				break // Lemire's method may reject: Below finishes it
			}
			dst[k] = uint32(m >> 32)
		}
		l.next += uint(k)
		dst = dst[k:]
		if len(dst) > 0 {
			dst[0] = l.Below(n) // a refill, or a possible rejection
			dst = dst[1:]
		}
	}
}

// Commit moves the generator past the values handed out so far; its state
// is then exactly that of a generator that drew them itself.
func (l *Lookahead) Commit() {
	l.g.Skip32(l.spent + uint64(l.next-l.mark))
	l.spent, l.mark = 0, l.next
}
