//go:build !amd64 || purego

package nprand

// philox8 is the portable block computation: there is no assembly version
// for this architecture.
func philox8(out, ctr *[4 * philoxBatch]uint64, key *[2]uint64) {
	philox8Generic(out, ctr, key)
}
