// Package kernels defines the compute interface of TRM: the small set of
// operations a forward and backward pass needs (matrix multiply, embedding
// gather and scatter-add, RMSNorm, RoPE, attention, SwiGLU and the MLP built
// on it, stablemax and softmax cross-entropy, AdamATan2, EMA), as the Backend
// interface, together
// with their plain serial definitions as generic functions over float32 and
// float64.
//
// The serial definitions are the oracles: package kernels/cpu splits them over
// goroutines (and multiplies with its blocked Sgemm), a device backend
// reimplements them, and tests bind each to these definitions. float64
// instances exist for finite-difference gradient checks.
package kernels
