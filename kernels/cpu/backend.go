package cpu

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/tinyrecursion/trm/kernels"
)

// Backend is the pure-Go implementation of kernels.Backend. Row-wise
// operations are split into contiguous row ranges run by a fixed pool of
// goroutines; each row is computed exactly as the serial definition in package
// kernels, so results do not depend on the number of workers.
type Backend[T kernels.Float] struct {
	name   string
	gemm   kernels.GemmFunc[T] // whole-matrix multiply (may parallelise itself)
	serial kernels.GemmFunc[T] // multiply used inside already-parallel loops
	expv   kernels.ExpFunc[T]
	// row kernels that have a vectorised float32 twin
	swiglu     func(out, gateUp []T, inter, lo, hi int)
	swigluBack func(dgateUp, dout, gateUp []T, inter, lo, hi int)
	pool       *pool
	arena      arena[T]
	workers    int
}

// New32 returns the float32 backend, the one used for training. Its matrix
// multiply is Sgemm. workers <= 0 means runtime.GOMAXPROCS(0).
func New32(workers int) *Backend[float32] {
	b := newBackend[float32]("cpu-float32", workers, Sgemm, Sgemm, expInPlace32)
	b.swiglu, b.swigluBack = swigluRows32, swigluBackwardRows32
	return b
}

// New64 returns the float64 backend used for gradient checks: the same
// operations with the reference triple-loop multiply.
func New64(workers int) *Backend[float64] {
	b := newBackend[float64]("cpu-float64", workers, nil, kernels.GemmRef[float64], kernels.ExpSlice[float64])
	b.gemm = b.parallelGemm
	b.swiglu = func(out, gateUp []float64, inter, lo, hi int) {
		kernels.SwiGLURows(out, gateUp, inter, b.expv, lo, hi)
	}
	b.swigluBack = func(dgateUp, dout, gateUp []float64, inter, lo, hi int) {
		kernels.SwiGLUBackwardRows(dgateUp, dout, gateUp, inter, b.expv, lo, hi)
	}
	return b
}

func newBackend[T kernels.Float](name string, workers int, gemm, serial kernels.GemmFunc[T], expv kernels.ExpFunc[T]) *Backend[T] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Backend[T]{name: name, gemm: gemm, serial: serial, expv: expv, pool: newPool(workers), workers: workers}
}

// Name implements kernels.Backend.
func (b *Backend[T]) Name() string { return fmt.Sprintf("%s/%d", b.name, b.workers) }

// Alloc implements kernels.Backend with a bump allocator over large chunks.
func (b *Backend[T]) Alloc(n int) []T { return b.arena.alloc(n) }

// Gemm implements kernels.Backend.
func (b *Backend[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, bm []T, ldb int, beta T, c []T, ldc int) {
	b.gemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
}

// parallelGemm splits the rows of C among the workers.
func (b *Backend[T]) parallelGemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, bm []T, ldb int, beta T, c []T, ldc int) {
	b.pool.run(m, func(lo, hi int) {
		aOff := lo * lda
		if transA {
			aOff = lo
		}
		b.serial(transA, transB, hi-lo, n, k, alpha, a[aOff:], lda, bm, ldb, beta, c[lo*ldc:], ldc)
	})
}

// Gather implements kernels.Backend.
func (b *Backend[T]) Gather(out, table []T, ids []int32, dim int, scale T) {
	b.pool.run(len(ids), func(lo, hi int) { kernels.GatherRows(out, table, ids, dim, scale, lo, hi) })
}

// ScatterAdd implements kernels.Backend, split by column.
func (b *Backend[T]) ScatterAdd(dtable, dout []T, ids []int32, dim int, scale T) {
	b.pool.run(dim, func(lo, hi int) { kernels.ScatterAddCols(dtable, dout, ids, dim, scale, lo, hi) })
}

// Add implements kernels.Backend.
func (b *Backend[T]) Add(out, x, y []T) {
	n := len(out)
	_, _ = x[:n], y[:n]
	b.pool.run(n, func(lo, hi int) { kernels.AddRange(out, x, y, lo, hi) })
}

// Transpose implements kernels.Backend.
func (b *Backend[T]) Transpose(out, in []T, batch, rows, cols int) {
	b.pool.run(batch, func(lo, hi int) { kernels.TransposeMats(out, in, rows, cols, lo, hi) })
}

// RMSNorm implements kernels.Backend.
func (b *Backend[T]) RMSNorm(out, rstd, in []T, rows, dim int, eps float64) {
	b.pool.run(rows, func(lo, hi int) { kernels.RMSNormRows(out, rstd, in, dim, eps, lo, hi) })
}

// RMSNormBackward implements kernels.Backend.
func (b *Backend[T]) RMSNormBackward(din, dout, out, rstd []T, rows, dim int) {
	b.pool.run(rows, func(lo, hi int) { kernels.RMSNormBackwardRows(din, dout, out, rstd, dim, lo, hi) })
}

// RoPE implements kernels.Backend.
func (b *Backend[T]) RoPE(x []T, rows, stride, heads, headDim, seq int, cos, sin []T) {
	b.pool.run(rows, func(lo, hi int) { kernels.RoPERows(x, stride, heads, headDim, seq, cos, sin, lo, hi) })
}

// RoPEBackward implements kernels.Backend.
func (b *Backend[T]) RoPEBackward(dx []T, rows, stride, heads, headDim, seq int, cos, sin []T) {
	b.pool.run(rows, func(lo, hi int) { kernels.RoPEBackwardRows(dx, stride, heads, headDim, seq, cos, sin, lo, hi) })
}

// Attention implements kernels.Backend, one (batch, head) pair per task.
func (b *Backend[T]) Attention(out, probs, qkv []T, batch, seq, heads, headDim int) {
	b.pool.run(batch*heads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.AttentionPair(b.serial, b.expv, out, probs, qkv, seq, heads, headDim, i/heads, i%heads)
		}
	})
}

// AttentionBackward implements kernels.Backend.
func (b *Backend[T]) AttentionBackward(dqkv, dprobs, dout, probs, qkv []T, batch, seq, heads, headDim int) {
	b.pool.run(batch*heads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.AttentionBackwardPair(b.serial, dqkv, dprobs, dout, probs, qkv, seq, heads, headDim, i/heads, i%heads)
		}
	})
}

// SwiGLU implements kernels.Backend.
func (b *Backend[T]) SwiGLU(out, gateUp []T, rows, inter int) {
	b.pool.run(rows, func(lo, hi int) { b.swiglu(out, gateUp, inter, lo, hi) })
}

// SwiGLUBackward implements kernels.Backend.
func (b *Backend[T]) SwiGLUBackward(dgateUp, dout, gateUp []T, rows, inter int) {
	b.pool.run(rows, func(lo, hi int) { b.swigluBack(dgateUp, dout, gateUp, inter, lo, hi) })
}

// StablemaxCrossEntropy implements kernels.Backend.
func (b *Backend[T]) StablemaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int) {
	b.pool.run(rows, func(lo, hi int) {
		kernels.StablemaxRows(loss, dlogits, logits, labels, gradScale, vocab, lo, hi)
	})
}

// SoftmaxCrossEntropy implements kernels.Backend.
func (b *Backend[T]) SoftmaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int) {
	b.pool.run(rows, func(lo, hi int) {
		kernels.SoftmaxRows(loss, dlogits, logits, labels, gradScale, vocab, lo, hi)
	})
}

// AdamATan2 implements kernels.Backend.
func (b *Backend[T]) AdamATan2(p, g, m, v []T, s kernels.AdamATan2Scalars) {
	b.pool.run(len(p), func(lo, hi int) { kernels.AdamATan2Range(p, g, m, v, s, lo, hi) })
}

// Lerp implements kernels.Backend.
func (b *Backend[T]) Lerp(shadow, p []T, mu float64) {
	b.pool.run(len(shadow), func(lo, hi int) { kernels.LerpRange(shadow, p, mu, lo, hi) })
}

// arena hands out zeroed slices carved from large chunks, so a model's
// buffers are allocated once, close together, and never freed one by one.
type arena[T kernels.Float] struct {
	mu    sync.Mutex
	chunk []T
}

const arenaChunk = 1 << 20

func (a *arena[T]) alloc(n int) []T {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n > len(a.chunk) {
		if n >= arenaChunk/4 {
			return make([]T, n)
		}
		a.chunk = make([]T, arenaChunk)
	}
	s := a.chunk[:n:n]
	a.chunk = a.chunk[n:]
	return s
}

// pool is a fixed set of goroutines that run contiguous ranges of a loop.
type pool struct {
	workers int
	tasks   chan task
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

func newPool(workers int) *pool {
	p := &pool{workers: workers, tasks: make(chan task, workers)}
	for i := 1; i < workers; i++ {
		go func() {
			for t := range p.tasks {
				t.fn(t.lo, t.hi)
				t.wg.Done()
			}
		}()
	}
	return p
}

// run calls fn on up to `workers` contiguous ranges covering [0, n), one of
// them on the calling goroutine, and returns when all are done.
func (p *pool) run(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := min(p.workers, n)
	if parts == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.tasks <- task{fn: fn, lo: i * n / parts, hi: (i + 1) * n / parts, wg: &wg}
	}
	fn(0, n/parts)
	wg.Wait()
}

// Close stops the backend's worker goroutines; the backend must not be used
// afterwards.
func (b *Backend[T]) Close() { close(b.pool.tasks) }
