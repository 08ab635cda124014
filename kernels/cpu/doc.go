// Package cpu is the pure-Go compute backend of trm: kernels.Backend for
// float32 (training) and float64 (gradient checks).
//
// Layout:
//
//   - backend.go: Backend, New32 and New64. Row-wise operations call the
//     serial definitions of package kernels on contiguous row ranges run by
//     a fixed pool of goroutines, so every row is computed exactly as the
//     definition and results do not depend on the worker count. Operations
//     allocate nothing (arguments go into a slot of the backend, the task
//     functions are made once), so a backend runs one operation at a time.
//     Buffers come from a bump-allocating arena: a model allocates once and
//     reuses. The MLP runs its three steps in row blocks whose intermediates
//     stay in cache (the blocks over the pool, each worker packing the
//     weights once), with the same results as the three operations over all
//     rows.
//   - sgemm*.go: Sgemm, the blocked, packed, parallel float32 matrix
//     multiply with AVX-512 / AVX2 micro-kernels chosen at run time and a
//     pure-Go fallback; New32 multiplies with it. New64 uses the reference
//     triple loop of package kernels, split by rows.
//   - exp_amd64.s: AVX-512 exponential, softmax and SwiGLU forward/backward
//     kernels used by the float32 backend for attention and the MLPs, with the
//     scalar definitions as fallback (build tag purego, or no AVX-512).
//
// Tests bind each operation to its definition: float64 finite differences
// for every backward, float32 against float64, and bit-identical results
// across worker counts.
package cpu
