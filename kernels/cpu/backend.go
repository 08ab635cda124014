package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/tinyrecursion/trm/kernels"
)

// Backend is the pure-Go implementation of kernels.Backend. Row-wise
// operations are split into contiguous row ranges run by a fixed pool of
// goroutines; each row is computed exactly as the serial definition in package
// kernels, so results do not depend on the number of workers.
//
// Operations on one Backend run one at a time (calls from several goroutines
// are serialised). They do not allocate: each operation's arguments go into
// a slot of the backend and the workers run a task function made once by
// the constructor.
type Backend[T kernels.Float] struct {
	name    string
	workers int
	gemm    kernels.GemmFunc[T] // whole-matrix multiply (may parallelise itself)
	serial  kernels.GemmFunc[T] // multiply used inside already-parallel loops
	// row kernels that have a vectorised float32 twin
	softmax    kernels.SoftmaxFunc[T]
	swiglu     func(out, gateUp []T, inter, lo, hi int)
	swigluBack func(dgateUp, dout, gateUp []T, inter, lo, hi int)

	mu    sync.Mutex // one operation at a time: a is shared with the workers
	a     opArgs[T]
	tasks taskSet[T]
	pool  *pool[T]
	arena arena[T]
	// mlpWorkers holds the workers' MLP state between operations (see
	// getMLPWorker); newSharedB makes a worker's weight products.
	mlpWorkers chan *mlpWorker[T]
	newSharedB func() sharedB[T]
}

// opArgs holds the arguments of the operation in flight.
type opArgs[T kernels.Float] struct {
	s0, s1, s2, s3, s4, s5 []T
	ids                    []int32
	loss, scale            []float64
	i0, i1, i2, i3         int
	k0, k1                 int
	alpha, beta            T
	f                      float64
	adam                   kernels.AdamATan2Scalars
	transA, transB         bool
}

// task is the body of one operation over the range [lo, hi).
type task[T kernels.Float] func(b *Backend[T], lo, hi int)

// taskSet holds one task per operation, instantiated once per backend so
// that running an operation creates no closure.
type taskSet[T kernels.Float] struct {
	gemm, gather, scatter, add, transpose, rms, addRMS, rmsBack, rope, ropeBack,
	attn, attnBack, swiglu, swigluBack, mlp, stablemax, softmax, adam, lerp task[T]
}

func newTaskSet[T kernels.Float]() taskSet[T] {
	return taskSet[T]{
		gemm:       gemmTask[T],
		gather:     gatherTask[T],
		scatter:    scatterTask[T],
		add:        addTask[T],
		transpose:  transposeTask[T],
		rms:        rmsTask[T],
		addRMS:     addRMSTask[T],
		rmsBack:    rmsBackTask[T],
		rope:       ropeTask[T],
		ropeBack:   ropeBackTask[T],
		attn:       attnTask[T],
		attnBack:   attnBackTask[T],
		swiglu:     swigluTask[T],
		swigluBack: swigluBackTask[T],
		mlp:        mlpTask[T],
		stablemax:  stablemaxTask[T],
		softmax:    softmaxTask[T],
		adam:       adamTask[T],
		lerp:       lerpTask[T],
	}
}

// New32 returns the float32 backend, the one used for training. Its matrix
// multiply is Sgemm. workers <= 0 means runtime.GOMAXPROCS(0).
func New32(workers int) *Backend[float32] {
	b := newBackend[float32]("cpu-float32", workers, Sgemm, sgemmSerial)
	b.softmax, b.swiglu, b.swigluBack = softmax32, swigluRows32, swigluBackwardRows32
	b.newSharedB = func() sharedB[float32] { return &sgemmSharedB{} }
	return b
}

// New64 returns the float64 backend used for gradient checks: the same
// operations with the reference triple-loop multiply, split by rows.
func New64(workers int) *Backend[float64] {
	b := newBackend[float64]("cpu-float64", workers, nil, kernels.GemmRef[float64])
	b.gemm, b.softmax = b.parallelGemm, kernels.SoftmaxRow[float64]
	b.newSharedB = func() sharedB[float64] { return &refSharedB[float64]{} }
	b.swiglu = func(out, gateUp []float64, inter, lo, hi int) {
		kernels.SwiGLURows(out, gateUp, inter, kernels.ExpSlice[float64], lo, hi)
	}
	b.swigluBack = func(dgateUp, dout, gateUp []float64, inter, lo, hi int) {
		kernels.SwiGLUBackwardRows(dgateUp, dout, gateUp, inter, kernels.ExpSlice[float64], lo, hi)
	}
	return b
}

func newBackend[T kernels.Float](name string, workers int, gemm, serial kernels.GemmFunc[T]) *Backend[T] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	b := &Backend[T]{name: name, workers: workers, gemm: gemm, serial: serial, tasks: newTaskSet[T](), mlpWorkers: make(chan *mlpWorker[T], workers)}
	b.pool = newPool(b, workers)
	return b
}

// Name implements kernels.Backend.
func (b *Backend[T]) Name() string { return fmt.Sprintf("%s/%d", b.name, b.workers) }

// Err implements kernels.Backend: pure Go operations do not fail.
func (b *Backend[T]) Err() error { return nil }

// Alloc implements kernels.Backend with a bump allocator over large chunks.
func (b *Backend[T]) Alloc(n int) []T { return b.arena.alloc(n) }

// ToDevice implements kernels.Backend: the CPU's buffers have no other copy.
func (b *Backend[T]) ToDevice([]T) {}

// ToDeviceRows implements kernels.Backend: nothing to do on the CPU.
func (b *Backend[T]) ToDeviceRows([]T, int, []int32) {}

// ToHost implements kernels.Backend.
func (b *Backend[T]) ToHost([]T) {}

// Close stops the backend's worker goroutines; the backend must not be used
// afterwards.
func (b *Backend[T]) Close() { close(b.pool.start) }

// do runs t over [0, n) with the arguments already in b.a, then clears
// them so the backend holds no references to the caller's buffers.
func (b *Backend[T]) do(n int, t task[T]) {
	b.pool.run(n, t)
	b.a = opArgs[T]{}
}

// Gemm implements kernels.Backend.
func (b *Backend[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, bm []T, ldb int, beta T, c []T, ldc int) {
	b.gemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
}

// parallelGemm splits the rows of C among the workers (float64 backend).
func (b *Backend[T]) parallelGemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, bm []T, ldb int, beta T, c []T, ldc int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: a, s1: bm, s2: c, i0: lda, i1: ldb, i2: ldc, k0: n, k1: k,
		alpha: alpha, beta: beta, transA: transA, transB: transB}
	b.do(m, b.tasks.gemm)
}

func gemmTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	aOff := lo * a.i0
	if a.transA {
		aOff = lo
	}
	b.serial(a.transA, a.transB, hi-lo, a.k0, a.k1, a.alpha, a.s0[aOff:], a.i0, a.s1, a.i1, a.beta, a.s2[lo*a.i2:], a.i2)
}

// Gather implements kernels.Backend.
func (b *Backend[T]) Gather(out, table []T, ids []int32, dim int, scale T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: table, ids: ids, i0: dim, alpha: scale}
	b.do(len(ids), b.tasks.gather)
}

func gatherTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.GatherRows(b.a.s0, b.a.s1, b.a.ids, b.a.i0, b.a.alpha, lo, hi)
}

// ScatterAdd implements kernels.Backend, split by column.
func (b *Backend[T]) ScatterAdd(dtable, dout []T, ids []int32, dim int, scale T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: dtable, s1: dout, ids: ids, i0: dim, alpha: scale}
	b.do(dim, b.tasks.scatter)
}

func scatterTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.ScatterAddCols(b.a.s0, b.a.s1, b.a.ids, b.a.i0, b.a.alpha, lo, hi)
}

// Copy implements kernels.Backend.
func (b *Backend[T]) Copy(dst, src []T) { copy(dst, src[:len(dst)]) }

// Zero implements kernels.Backend.
func (b *Backend[T]) Zero(x []T) { clear(x) }

// CopyRows implements kernels.Backend.
func (b *Backend[T]) CopyRows(dst []T, dstStride int, src []T, srcStride int, rows, width int) {
	for r := range rows {
		copy(dst[r*dstStride:r*dstStride+width], src[r*srcStride:r*srcStride+width])
	}
}

// Add implements kernels.Backend.
func (b *Backend[T]) Add(out, x, y []T) {
	n := len(out)
	_, _ = x[:n], y[:n]
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: x, s2: y}
	b.do(n, b.tasks.add)
}

func addTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.AddRange(b.a.s0, b.a.s1, b.a.s2, lo, hi)
}

// Transpose implements kernels.Backend.
func (b *Backend[T]) Transpose(out, in []T, batch, rows, cols int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: in, i0: rows, i1: cols}
	b.do(batch, b.tasks.transpose)
}

func transposeTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.TransposeMats(b.a.s0, b.a.s1, b.a.i0, b.a.i1, lo, hi)
}

// RMSNorm implements kernels.Backend.
func (b *Backend[T]) RMSNorm(out, rstd, in []T, rows, dim int, eps float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: rstd, s2: in, i0: dim, f: eps}
	b.do(rows, b.tasks.rms)
}

func rmsTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.RMSNormRows(b.a.s0, b.a.s1, b.a.s2, b.a.i0, b.a.f, lo, hi)
}

// AddRMSNorm implements kernels.Backend.
func (b *Backend[T]) AddRMSNorm(out, rstd, x, y []T, rows, dim int, eps float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: rstd, s2: x, s3: y, i0: dim, f: eps}
	b.do(rows, b.tasks.addRMS)
}

func addRMSTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.AddRMSNormRows(b.a.s0, b.a.s1, b.a.s2, b.a.s3, b.a.i0, b.a.f, lo, hi)
}

// RMSNormBackward implements kernels.Backend.
func (b *Backend[T]) RMSNormBackward(din, dout, out, rstd []T, rows, dim int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: din, s1: dout, s2: out, s3: rstd, i0: dim}
	b.do(rows, b.tasks.rmsBack)
}

func rmsBackTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.RMSNormBackwardRows(b.a.s0, b.a.s1, b.a.s2, b.a.s3, b.a.i0, lo, hi)
}

// RoPE implements kernels.Backend.
func (b *Backend[T]) RoPE(x []T, rows, stride, heads, headDim, seq int, cos, sin []T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: x, s1: cos, s2: sin, i0: stride, i1: heads, i2: headDim, i3: seq}
	b.do(rows, b.tasks.rope)
}

func ropeTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	kernels.RoPERows(a.s0, a.i0, a.i1, a.i2, a.i3, a.s1, a.s2, lo, hi)
}

// RoPEBackward implements kernels.Backend.
func (b *Backend[T]) RoPEBackward(dx []T, rows, stride, heads, headDim, seq int, cos, sin []T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: dx, s1: cos, s2: sin, i0: stride, i1: heads, i2: headDim, i3: seq}
	b.do(rows, b.tasks.ropeBack)
}

func ropeBackTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	kernels.RoPEBackwardRows(a.s0, a.i0, a.i1, a.i2, a.i3, a.s1, a.s2, lo, hi)
}

// Attention implements kernels.Backend, one (batch, head) pair per task.
func (b *Backend[T]) Attention(out, probs, qkv []T, batch, seq, heads, headDim int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: probs, s2: qkv, i0: seq, i1: heads, i2: headDim}
	b.do(batch*heads, b.tasks.attn)
}

func attnTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	for i := lo; i < hi; i++ {
		kernels.AttentionPair(b.serial, b.softmax, a.s0, a.s1, a.s2, a.i0, a.i1, a.i2, i/a.i1, i%a.i1)
	}
}

// AttentionBackward implements kernels.Backend.
func (b *Backend[T]) AttentionBackward(dqkv, dprobs, dout, probs, qkv []T, batch, seq, heads, headDim int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: dqkv, s1: dprobs, s2: dout, s3: probs, s4: qkv, i0: seq, i1: heads, i2: headDim}
	b.do(batch*heads, b.tasks.attnBack)
}

func attnBackTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	for i := lo; i < hi; i++ {
		kernels.AttentionBackwardPair(b.serial, a.s0, a.s1, a.s2, a.s3, a.s4, a.i0, a.i1, a.i2, i/a.i1, i%a.i1)
	}
}

// SwiGLU implements kernels.Backend.
func (b *Backend[T]) SwiGLU(out, gateUp []T, rows, inter int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: out, s1: gateUp, i0: inter}
	b.do(rows, b.tasks.swiglu)
}

func swigluTask[T kernels.Float](b *Backend[T], lo, hi int) { b.swiglu(b.a.s0, b.a.s1, b.a.i0, lo, hi) }

// SwiGLUBackward implements kernels.Backend.
func (b *Backend[T]) SwiGLUBackward(dgateUp, dout, gateUp []T, rows, inter int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: dgateUp, s1: dout, s2: gateUp, i0: inter}
	b.do(rows, b.tasks.swigluBack)
}

func swigluBackTask[T kernels.Float](b *Backend[T], lo, hi int) {
	b.swigluBack(b.a.s0, b.a.s1, b.a.s2, b.a.i0, lo, hi)
}

// mlpBlockBytes bounds one worker's MLP intermediates (a row block's
// gate/up and SwiGLU output) so that they stay in the caches between the
// three steps: over a whole batch, SwiGLU alone moves 12 bytes per element
// through main memory, the bottleneck of this 2-core machine. `go test
// ./kernels/cpu -bench MLP`: the small Sudoku model's MLP (6208×128,
// inter 512) 1.34-1.39x the unblocked one, mlp_t's token mixing
// 1.15-1.26x; blocks of 256 to 2048 rows were tried, 512 (3 MiB) was best.
const mlpBlockBytes = 3 << 20

// MLP implements kernels.Backend. Workers take whole row blocks, each
// multiplied on the worker's goroutine by weights it prepared (packed)
// once for all its blocks: the result is the same as Gemm, SwiGLU, Gemm
// over all rows, since every element of a product is computed the same way
// wherever its rows are.
func (b *Backend[T]) MLP(out, x, wGateUp, wDown, gateUp, act []T, rows, dim, inter int) {
	if rows <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Blocks of whole 12-row tiles (the widest kernel's; 6 and 4 divide
	// it), the same number for every worker.
	var zero T
	perRow := 3 * inter * int(unsafe.Sizeof(zero))
	blocks := ceilDiv(rows, max(12, mlpBlockBytes/perRow))
	blocks = ceilDiv(blocks, b.workers) * b.workers
	blockRows := ceilDiv(ceilDiv(rows, blocks), 12) * 12
	b.a = opArgs[T]{s0: out, s1: x, s2: wGateUp, s3: wDown, s4: gateUp, s5: act, i0: rows, i1: dim, i2: inter, i3: blockRows}
	b.do(ceilDiv(rows, blockRows), b.tasks.mlp)
}

func mlpTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	out, x, gu, act := a.s0, a.s1, a.s4, a.s5
	rows, dim, inter, blockRows := a.i0, a.i1, a.i2, a.i3
	w := b.getMLPWorker()
	defer b.putMLPWorker(w)
	defer w.up.release()
	defer w.down.release()
	// The weights are stored out×in, as the reference's: op(B) = Wᵀ.
	w.up.prepare(dim, 2*inter, a.s2)
	w.down.prepare(inter, dim, a.s3)
	if gu == nil {
		if need := 3 * inter * blockRows; cap(w.buf) < need {
			w.buf = make([]T, need)
		}
		gu, act = w.buf[:2*inter*blockRows], w.buf[2*inter*blockRows:3*inter*blockRows]
	}
	for blk := lo; blk < hi; blk++ {
		r0 := blk * blockRows
		n := min(blockRows, rows-r0)
		g, s := gu, act
		if a.s4 != nil {
			g, s = gu[r0*2*inter:], act[r0*inter:]
		}
		w.up.mul(n, x[r0*dim:], dim, g, 2*inter)
		b.swiglu(s, g, inter, 0, n)
		w.down.mul(n, s, inter, out[r0*dim:], dim)
	}
}

// mlpWorker is one worker's MLP state: its row-block buffer and the two
// weight matrices, prepared once per call for all of its blocks.
type mlpWorker[T kernels.Float] struct {
	buf      []T
	up, down sharedB[T]
}

// sharedB multiplies row blocks of A by one op(B) = Wᵀ (W stored n×k),
// prepared once: C = A·Wᵀ for m rows. release drops any reference to W,
// as operations keep none to the caller's buffers.
type sharedB[T kernels.Float] interface {
	prepare(k, n int, w []T)
	mul(m int, a []T, lda int, c []T, ldc int)
	release()
}

// sgemmSharedB packs the weights once, where each Sgemm call would pack
// them again (7% of an evaluation step's time when the MLP ran in row
// blocks with plain calls).
type sgemmSharedB struct{ p sgemmPackedB }

func (s *sgemmSharedB) prepare(k, n int, w []float32) { s.p.pack(true, k, n, w, k) }
func (s *sgemmSharedB) release()                      {} // the packing is a copy
func (s *sgemmSharedB) mul(m int, a []float32, lda int, c []float32, ldc int) {
	sgemmRowsPacked(m, a, lda, &s.p, c, ldc)
}

// refSharedB multiplies with the reference triple loop (float64 backend).
type refSharedB[T kernels.Float] struct {
	k, n int
	w    []T
}

func (r *refSharedB[T]) prepare(k, n int, w []T) { r.k, r.n, r.w = k, n, w }
func (r *refSharedB[T]) release()                { r.w = nil }
func (r *refSharedB[T]) mul(m int, a []T, lda int, c []T, ldc int) {
	kernels.GemmRef(false, true, m, r.n, r.k, 1, a, lda, r.w, r.k, 0, c, ldc)
}

// getMLPWorker returns a worker state for one task, reusing those of
// earlier tasks (at most one per worker exists, its buffers grown to the
// largest need), so that steady-state operations do not allocate.
func (b *Backend[T]) getMLPWorker() *mlpWorker[T] {
	select {
	case w := <-b.mlpWorkers:
		return w
	default:
		return &mlpWorker[T]{up: b.newSharedB(), down: b.newSharedB()}
	}
}

// putMLPWorker hands a state from getMLPWorker back.
func (b *Backend[T]) putMLPWorker(w *mlpWorker[T]) {
	select {
	case b.mlpWorkers <- w:
	default: // more states than workers cannot happen; if so, drop one
	}
}

// StablemaxCrossEntropy implements kernels.Backend.
func (b *Backend[T]) StablemaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{loss: loss, s0: dlogits, s1: logits, ids: labels, scale: gradScale, i0: vocab}
	b.do(rows, b.tasks.stablemax)
}

func stablemaxTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	kernels.StablemaxRows(a.loss, a.s0, a.s1, a.ids, a.scale, a.i0, lo, hi)
}

// SoftmaxCrossEntropy implements kernels.Backend.
func (b *Backend[T]) SoftmaxCrossEntropy(loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, rows, vocab int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{loss: loss, s0: dlogits, s1: logits, ids: labels, scale: gradScale, i0: vocab}
	b.do(rows, b.tasks.softmax)
}

func softmaxTask[T kernels.Float](b *Backend[T], lo, hi int) {
	a := &b.a
	kernels.SoftmaxRows(a.loss, a.s0, a.s1, a.ids, a.scale, a.i0, lo, hi)
}

// AdamATan2 implements kernels.Backend.
func (b *Backend[T]) AdamATan2(p, g, m, v []T, s kernels.AdamATan2Scalars) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: p, s1: g, s2: m, s3: v, adam: s}
	b.do(len(p), b.tasks.adam)
}

func adamTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.AdamATan2Range(b.a.s0, b.a.s1, b.a.s2, b.a.s3, b.a.adam, lo, hi)
}

// Lerp implements kernels.Backend.
func (b *Backend[T]) Lerp(shadow, p []T, mu float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.a = opArgs[T]{s0: shadow, s1: p, f: mu}
	b.do(len(shadow), b.tasks.lerp)
}

func lerpTask[T kernels.Float](b *Backend[T], lo, hi int) {
	kernels.LerpRange(b.a.s0, b.a.s1, b.a.f, lo, hi)
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

// pool is a fixed set of goroutines that run contiguous ranges of the
// current task. The caller runs the first range itself.
type pool[T kernels.Float] struct {
	b       *Backend[T]
	workers int
	start   chan int // part index for a worker to run
	op      task[T]
	n, part int
	wg      sync.WaitGroup
}

func newPool[T kernels.Float](b *Backend[T], workers int) *pool[T] {
	p := &pool[T]{b: b, workers: workers, start: make(chan int, workers)}
	for i := 1; i < workers; i++ {
		go func() {
			for i := range p.start {
				p.op(p.b, i*p.n/p.part, (i+1)*p.n/p.part)
				p.wg.Done()
			}
		}()
	}
	return p
}

// run calls op on up to `workers` contiguous ranges covering [0, n) and
// returns when all are done. The channel send orders the writes of op, n
// and part before the workers read them.
func (p *pool[T]) run(n int, op task[T]) {
	if n <= 0 {
		return
	}
	parts := min(p.workers, n)
	if parts == 1 {
		op(p.b, 0, n)
		return
	}
	p.op, p.n, p.part = op, n, parts
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.start <- i
	}
	op(p.b, 0, n/parts)
	p.wg.Wait()
}
