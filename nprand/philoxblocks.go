package nprand

import "math/bits"

// philoxBatch is how many Philox blocks are computed at once: the AVX-512
// version holds eight blocks per register and runs two groups of eight
// together, and a batch this size keeps the per-call cost small next to
// the rounds.
const philoxBatch = 16

// philoxCounters lays out philoxBatch consecutive counters from c for
// philoxBlocks: groups of eight, word major within a group (word j of
// counter 8g+b is at 32g+8j+b), one AVX-512 register per word.
func philoxCounters(c [4]uint64) (ctr [4 * philoxBatch]uint64) {
	for b := range philoxBatch {
		g, lane := b/8, b%8
		for j := range 4 {
			ctr[32*g+8*j+lane] = c[j]
		}
		advance(&c, 1)
	}
	return ctr
}

// philoxBlocksGeneric computes the blocks of the counters laid out in ctr
// (see philoxCounters) under key into out, block major: out[4*b+j] is word
// j of block b, the order the blocks' words are drawn in. It computes two
// blocks at a time: one block is a chain of dependent multiplications that
// leaves the CPU mostly idle, and two independent chains run in nearly the
// time of one.
func philoxBlocksGeneric(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64) {
	word := func(b, j int) uint64 { return ctr[32*(b/8)+8*j+b%8] }
	for b := 0; b < philoxBatch; b += 2 {
		a0, a1, a2, a3 := word(b, 0), word(b, 1), word(b, 2), word(b, 3)
		c0, c1, c2, c3 := word(b+1, 0), word(b+1, 1), word(b+1, 2), word(b+1, 3)
		// Each round's key is the key plus the round number times the
		// Weyl constants; adding as the rounds go keeps it in registers.
		k0, k1 := key[0], key[1]
		for range philoxRounds {
			ahi0, alo0 := bits.Mul64(philoxM0, a0)
			ahi1, alo1 := bits.Mul64(philoxM1, a2)
			chi0, clo0 := bits.Mul64(philoxM0, c0)
			chi1, clo1 := bits.Mul64(philoxM1, c2)
			a0, a1, a2, a3 = ahi1^a1^k0, alo1, ahi0^a3^k1, alo0
			c0, c1, c2, c3 = chi1^c1^k0, clo1, chi0^c3^k1, clo0
			k0 += philoxW0
			k1 += philoxW1
		}
		out[4*b], out[4*b+1], out[4*b+2], out[4*b+3] = a0, a1, a2, a3
		out[4*b+4], out[4*b+5], out[4*b+6], out[4*b+7] = c0, c1, c2, c3
	}
}
