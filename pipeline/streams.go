package pipeline

import (
	"hash/fnv"
	"math/rand/v2"
)

// GroupRand returns the random stream of one unit of work (a group, a
// generated puzzle), derived from the build seed, a stream name (the split
// or subset) and the unit's index. Each unit owning its stream is what makes
// outputs independent of the worker count and scheduling.
func GroupRand(seed int64, stream string, index int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(splitmix64(uint64(seed)), splitmix64(h.Sum64()+uint64(index)*0x9e3779b97f4a7c15)))
}

// splitmix64 scrambles a 64-bit value so that nearby seeds give unrelated
// PCG states.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
