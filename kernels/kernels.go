package kernels

// Float is the element type of a backend: float32 for training, float64 for
// gradient checks.
type Float interface {
	~float32 | ~float64
}

// Backend is the set of operations a TRM forward and backward pass needs.
// Every matrix is row-major; "rows" counts independent rows and every
// row-wise operation is exact per row, so results never depend on how a
// backend splits the work.
//
// Buffers are host slices. On a device backend each also has a device
// copy, which the operations use: after writing a buffer (or part of one)
// on the host, ToDevice sends it; before reading one on the host, ToHost
// fetches it. On the CPU both do nothing, so only a device backend's tests
// catch a missing one.
type Backend[T Float] interface {
	// Name identifies the backend in logs and benchmarks ("cpu-float32").
	Name() string
	// Err returns the first operation that failed (a device's launch, copy
	// or allocation), after which the backend does nothing; the CPU backend
	// never fails. Operations return no error of their own, so callers ask
	// after a step.
	Err() error
	// Alloc returns a zeroed buffer of n elements that lives as long as the
	// backend. Callers allocate everything once and reuse it across steps.
	Alloc(n int) []T
	// ToDevice makes the device copy of x (a buffer from Alloc, or part of
	// one) equal to its host values; ToHost the other way round.
	ToDevice(x []T)
	ToHost(x []T)
	// ToDeviceRows is ToDevice for rows ids of x, a buffer of rows of width
	// dim: the rows a host-side optimiser changed, sent together (an id may
	// repeat).
	ToDeviceRows(x []T, dim int, ids []int32)

	// Gemm computes C = alpha·op(A)·op(B) + beta·C; op(A) is m×k (A stored
	// k×m when transA), op(B) is k×n (B stored n×k when transB); lda, ldb and
	// ldc are row strides. beta = 0 overwrites C without reading it.
	Gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

	// Gather writes out[i,:] = scale·table[ids[i],:] for rows of width dim.
	Gather(out, table []T, ids []int32, dim int, scale T)
	// ScatterAdd adds scale·dout[i,:] into dtable[ids[i],:] (the gradient of
	// Gather); repeated ids accumulate.
	ScatterAdd(dtable, dout []T, ids []int32, dim int, scale T)
	// Copy writes dst = src for buffers of equal length that do not
	// overlap (or are the same buffer).
	Copy(dst, src []T)
	// Zero sets every element of x to 0.
	Zero(x []T)
	// CopyRows copies rows blocks of width elements between strided
	// layouts: dst[r·dstStride + j] = src[r·srcStride + j], j < width (the
	// token rows of a batch to and from rows with a prefix, in one call).
	CopyRows(dst []T, dstStride int, src []T, srcStride int, rows, width int)
	// Add writes out = a + b elementwise (out may alias a or b).
	Add(out, a, b []T)
	// Transpose writes out[b] = in[b]ᵀ for batch matrices of rows×cols.
	Transpose(out, in []T, batch, rows, cols int)

	// RMSNorm writes out = in/sqrt(mean(in², row) + eps) and the per-row
	// reciprocal root into rstd (saved for the backward pass).
	RMSNorm(out, rstd, in []T, rows, dim int, eps float64)
	// AddRMSNorm is Add then RMSNorm, out = RMSNorm(a + b), in one pass over
	// the rows (the post-norm residual); the sum is not kept.
	AddRMSNorm(out, rstd, a, b []T, rows, dim int, eps float64)
	// RMSNormBackward writes din from dout, the forward output and rstd.
	RMSNormBackward(din, dout, out, rstd []T, rows, dim int)

	// RoPE rotates, in place, the first heads·headDim columns of each row of
	// x (row stride stride) as heads of width headDim: row r is position
	// r mod seq; cos and sin are [seq, headDim] tables.
	RoPE(x []T, rows, stride, heads, headDim, seq int, cos, sin []T)
	// RoPEBackward applies the transposed rotation to gradients in place.
	RoPEBackward(dx []T, rows, stride, heads, headDim, seq int, cos, sin []T)

	// Attention computes non-causal softmax(q·kᵀ/sqrt(d))·v for every batch
	// and head. qkv is [batch·seq, 3·heads·headDim] laid out as queries,
	// keys, values, each head-major; out is [batch·seq, heads·headDim]; probs
	// [batch, heads, seq, seq] keeps the attention weights for the backward.
	Attention(out, probs, qkv []T, batch, seq, heads, headDim int)
	// AttentionBackward writes dqkv from dout; dprobs is scratch of the size
	// of probs.
	AttentionBackward(dqkv, dprobs, dout, probs, qkv []T, batch, seq, heads, headDim int)

	// SwiGLU writes out[r,i] = silu(gateUp[r,i])·gateUp[r,inter+i]; gateUp is
	// [rows, 2·inter] (gate first, then up).
	SwiGLU(out, gateUp []T, rows, inter int)
	// SwiGLUBackward writes dgateUp from dout and the saved gateUp.
	SwiGLUBackward(dgateUp, dout, gateUp []T, rows, inter int)
	// MLP writes out = SwiGLU(x·wGateUpᵀ)·wDownᵀ for x [rows, dim], wGateUp
	// [2·inter, dim], wDown [dim, inter], out [rows, dim]: exactly Gemm,
	// SwiGLU, Gemm. When gateUp [rows, 2·inter] and act [rows, inter] are
	// given they receive the intermediates (saved for the backward pass);
	// when nil the backend may keep them in scratch it reuses, row block by
	// row block, so that they never travel to main memory.
	MLP(out, x, wGateUp, wDown, gateUp, act []T, rows, dim, inter int)

	// StablemaxCrossEntropy computes, in float64, the per-row loss of
	// stablemax logits against labels (-100 = ignored, loss 0) into loss and,
	// when dlogits is not nil, d(Σ_r gradScale[r]·loss[r])/dlogits.
	StablemaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int)
	// SoftmaxCrossEntropy is the same with the ordinary softmax.
	SoftmaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int)

	// AdamATan2 applies one AdamATan2 step to p with gradient g and moments
	// m, v (section 8.1 of the reference spec).
	AdamATan2(p, g, m, v []T, s AdamATan2Scalars)
	// Lerp writes shadow = (1-mu)·p + mu·shadow (the EMA update).
	Lerp(shadow, p []T, mu float64)
}
