//go:build !purego

package nprand

import "golang.org/x/sys/cpu"

// philoxBlocksAVX512 is philoxBlocksGeneric with one block per 64-bit lane
// of AVX-512 registers. AVX-512 has no 64x64-bit high multiply, so each
// product is built from four 32x32-bit ones; sixteen lanes at a time that
// is still 2.6x faster than the scalar multiplies (BenchmarkPhiloxBlocks).
//
//go:noescape
func philoxBlocksAVX512(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64)

// hasAVX512 selects philoxBlocksAVX512.
var hasAVX512 = cpu.X86.HasAVX512F

// philoxBlocks is philoxBlocksGeneric, or the AVX-512 version where the
// CPU has it. It calls both directly: a call through a function value would
// make the arrays escape to the heap on every batch.
func philoxBlocks(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64) {
	if hasAVX512 {
		philoxBlocksAVX512(out, ctr, key)
		return
	}
	philoxBlocksGeneric(out, ctr, key)
}
