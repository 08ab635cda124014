// Package nprand reproduces, bit for bit, the numpy random streams the TRM
// reference code depends on (spec/reference-numpy-rng.md):
//
//   - RandomState: numpy's legacy global generator (np.random.*), an MT19937
//     with numpy's seeding, masked-rejection bounded integers, 53-bit doubles,
//     Fisher–Yates shuffle from the end, permutation and choice without
//     replacement. Used by the reference dataset builders and, inside the
//     PyTorch DataLoader worker, by the reference training sampler.
//   - SeedSequence, Philox and Generator: numpy.random.Generator(Philox(seed)),
//     which the reference training sampler uses for group order and puzzle
//     choice (permutation, and integers with Lemire's method). Philox
//     computes its blocks sixteen at a time (with AVX-512 where the CPU has
//     it); Uint32s, Skip32 and Lookahead draw in bulk for hot loops while
//     keeping the stream's position exactly numpy's.
//   - TorchBaseSeed and TorchWorkerSeedWords: how PyTorch seeds the legacy
//     numpy state of DataLoader worker processes.
//
// Generators are not safe for concurrent use. Their complete position is
// captured by State and reinstated by Restore, so a stream can be
// checkpointed and resumed exactly.
package nprand
