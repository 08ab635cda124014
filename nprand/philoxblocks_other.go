//go:build !amd64 || purego

package nprand

// philoxBlocks is the portable block computation: there is no assembly
// version for this architecture.
func philoxBlocks(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64) {
	philoxBlocksGeneric(out, ctr, key)
}
