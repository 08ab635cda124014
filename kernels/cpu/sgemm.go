package cpu

import (
	"fmt"
	"runtime"
	"sync"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices.
//
// op(A) is m×k: A is stored m×k, or k×m when transA. op(B) is k×n: B is
// stored k×n, or n×k when transB. lda, ldb and ldc are row strides in
// elements. When beta is 0, C is overwritten without being read, so NaNs in
// C do not leak into the result; when alpha is 0 or k is 0, A and B are not
// read.
//
// Large products are split over up to GOMAXPROCS goroutines. The result does
// not depend on how many: every element of C is summed in the same order
// whichever goroutine computes it.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(sgemmBest, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmBest is the fastest micro-kernel this CPU runs.
var sgemmBest = sgemmKernels()[0]

// Blocking: a kc×nc block of op(B) is packed once per goroutine and reused
// for every mc×kc block of op(A); that A block (at most 144×768 floats,
// 432 KiB) stays in L2 while one kc×nr panel of B is swept over all of its
// mr-row panels. k is cut into equal blocks of at most sgemmKC, so C is
// revisited as few times as possible. mc and nc are multiples of every
// kernel's mr and nr, so tiles sit at the same place whatever the split
// between goroutines.
const (
	sgemmKC = 768
	sgemmMC = 144
	sgemmNC = 2048

	// Products with fewer multiply-adds than this run on the calling
	// goroutine: handing work to another costs more than it saves.
	sgemmParallelMACs = 1 << 20

	// Largest tile of any kernel, for the edge-tile buffer.
	sgemmMaxTile = 12 * 32
)

// sgemmScratch holds one goroutine's packing buffers. They grow to the
// blocks a product needs (at most 6.4 MiB), so small products stay small.
type sgemmScratch struct {
	a, b, tile []float32
	wg         sync.WaitGroup // for callers that hand work to sgemmWorkers
}

func newSgemmScratch() *sgemmScratch {
	return &sgemmScratch{tile: make([]float32, sgemmMaxTile)}
}

// reserve sizes the buffers for blocks of at most mc×kc of A and kc×nc of B.
func (s *sgemmScratch) reserve(mc, kc, nc int) {
	if cap(s.a) < mc*kc {
		s.a = make([]float32, mc*kc)
	}
	if cap(s.b) < kc*nc {
		s.b = make([]float32, kc*nc)
	}
	s.a, s.b = s.a[:cap(s.a)], s.b[:cap(s.b)]
}

// sgemmFree keeps scratch for callers between calls. Unlike a sync.Pool it is
// not emptied by garbage collection, so steady-state calls never allocate the
// megabytes a scratch holds.
var sgemmFree = make(chan *sgemmScratch, 8)

func getSgemmScratch() *sgemmScratch {
	select {
	case s := <-sgemmFree:
		return s
	default:
		return newSgemmScratch()
	}
}

func putSgemmScratch(s *sgemmScratch) {
	select {
	case sgemmFree <- s:
	default: // more concurrent callers than slots: let this one go
	}
}

// sgemmJob is one goroutine's share of a product: rows [m0,m1) and columns
// [n0,n1) of C.
type sgemmJob struct {
	kern           *sgemmKernel
	transA, transB bool
	m0, m1, n0, n1 int
	k              int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	done           *sync.WaitGroup
	packed         *sgemmPackedB // op(B) packed beforehand (then b is unused)
}

// sgemmWorkers are long-lived goroutines, each with its own scratch, so that
// steady-state calls neither allocate nor start goroutines.
var sgemmWorkers struct {
	mu      sync.Mutex
	started int
	jobs    chan sgemmJob
}

// ensureSgemmWorkers starts workers until at least n exist.
func ensureSgemmWorkers(n int) {
	w := &sgemmWorkers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.jobs == nil {
		w.jobs = make(chan sgemmJob)
	}
	for ; w.started < n; w.started++ {
		go func() {
			s := newSgemmScratch()
			for job := range w.jobs {
				job.run(s)
				job.done.Done()
			}
		}()
	}
}

// sgemmWith is Sgemm with a given micro-kernel, so tests and benchmarks can
// run each kernel this CPU supports.
func sgemmWith(kern *sgemmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmParts(kern, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerial is Sgemm on the calling goroutine alone, for loops that are
// already parallel: the same result, without handing work to the workers.
func sgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmParts(sgemmBest, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmParts runs the product on up to maxParts goroutines.
func sgemmParts(kern *sgemmKernel, maxParts int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkSgemmArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if k <= 0 || alpha == 0 {
		for i := 0; i < m; i++ {
			scaleRow(c[i*ldc:i*ldc+n], beta)
		}
		return
	}
	job := sgemmJob{
		kern: kern, transA: transA, transB: transB,
		m0: 0, m1: m, n0: 0, n1: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc,
	}
	s := getSgemmScratch()
	defer putSgemmScratch(s)

	// Split the dimension with more tiles into contiguous whole-tile ranges.
	tilesM, tilesN := ceilDiv(m, kern.mr), ceilDiv(n, kern.nr)
	splitM := tilesM >= tilesN
	tiles := max(tilesM, tilesN)
	parts := min(maxParts, tiles, max(1, m*n*k/sgemmParallelMACs))
	if parts <= 1 {
		job.run(s)
		return
	}
	ensureSgemmWorkers(parts - 1)
	job.done = &s.wg
	s.wg.Add(parts - 1)
	var mine sgemmJob
	for i := range parts {
		part := job
		lo, hi := tiles*i/parts, tiles*(i+1)/parts
		if splitM {
			part.m0, part.m1 = lo*kern.mr, min(m, hi*kern.mr)
		} else {
			part.n0, part.n1 = lo*kern.nr, min(n, hi*kern.nr)
		}
		if i == parts-1 {
			mine = part
		} else {
			sgemmWorkers.jobs <- part
		}
	}
	mine.run(s)
	s.wg.Wait()
}

// sgemmPackedB is op(B) of a product packed once, block by block as run
// packs it, so that row blocks of the product multiplied one after the
// other (the MLP's) share one packing instead of each packing the weights.
type sgemmPackedB struct {
	k, n   int
	buf    []float32
	blocks [][]float32 // in run's (column block, k block) order
}

// pack packs op(B), k×n (B stored n×k when transB), for sgemmBest.
func (p *sgemmPackedB) pack(transB bool, k, n int, b []float32, ldb int) {
	nr := sgemmBest.nr
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if ldb < cols || len(b) < (rows-1)*ldb+cols {
		panic(fmt.Sprintf("cpu: packing B: %d×%d with stride %d from %d values", rows, cols, ldb, len(b)))
	}
	// Column blocks are whole panels (sgemmNC is a multiple of nr), so the
	// blocks take ceil(n/nr) panels of k steps in all.
	if need := ceilDiv(n, nr) * nr * k; cap(p.buf) < need {
		p.buf = make([]float32, need)
	}
	p.k, p.n, p.blocks = k, n, p.blocks[:0]
	kcBlock := sgemmKCBlock(k)
	off := 0
	for jc := 0; jc < n; jc += sgemmNC {
		nc := min(sgemmNC, n-jc)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			size := ceilDiv(nc, nr) * nr * kc
			blk := p.buf[off : off+size]
			packB(blk, nr, b, ldb, transB, pc, kc, jc, nc)
			p.blocks = append(p.blocks, blk)
			off += size
		}
	}
}

// sgemmKCBlock is the k block of a product of depth k: at most sgemmKC,
// the blocks as even as possible. run and sgemmPackedB.pack must agree.
func sgemmKCBlock(k int) int { return ceilDiv(k, ceilDiv(k, sgemmKC)) }

// sgemmRowsPacked computes C = A·op(B) for m rows of a row-major A on the
// calling goroutine, op(B) from p: exactly what Sgemm computes for them.
func sgemmRowsPacked(m int, a []float32, lda int, p *sgemmPackedB, c []float32, ldc int) {
	if m <= 0 || p.n <= 0 || p.k <= 0 {
		return
	}
	// B was checked when packed; p.buf as a k×n matrix passes its check.
	checkSgemmArgs(false, false, m, p.n, p.k, a, lda, p.buf, p.n, c, ldc)
	job := sgemmJob{kern: sgemmBest, m1: m, n1: p.n, k: p.k, alpha: 1, a: a, c: c, lda: lda, ldc: ldc, packed: p}
	s := getSgemmScratch()
	job.run(s)
	putSgemmScratch(s)
}

// checkSgemmArgs panics with a clear message when a stride or slice is too
// small for the shapes, before any assembly touches memory.
func checkSgemmArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	check := func(name string, rows, cols int, s []float32, ld int) {
		if rows <= 0 || cols <= 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("cpu.Sgemm: ld%s = %d < %d columns", name, ld, cols))
		}
		if need := (rows-1)*ld + cols; len(s) < need {
			panic(fmt.Sprintf("cpu.Sgemm: len(%s) = %d, need %d for %d×%d with stride %d", name, len(s), need, rows, cols, ld))
		}
	}
	check("c", m, n, c, ldc)
	if k <= 0 {
		return
	}
	if transA {
		check("a", k, m, a, lda)
	} else {
		check("a", m, k, a, lda)
	}
	if transB {
		check("b", n, k, b, ldb)
	} else {
		check("b", k, n, b, ldb)
	}
}

// run computes the job's block of C with the blocked algorithm.
func (j *sgemmJob) run(s *sgemmScratch) {
	mr, nr := j.kern.mr, j.kern.nr
	// Whole mr-row panels of A are read in place when a kernel can: a
	// transposed A already holds each k step's mr values together, and a
	// row-major one suits tileRows. Only the generic kernel packs a
	// row-major A, and only the last, partial panel is ever copied otherwise.
	rowsInPlace := !j.transA && j.kern.tileRows != nil
	packAll := !j.transA && !rowsInPlace
	kcBlock := sgemmKCBlock(j.k)
	s.reserve(ceilDiv(min(sgemmMC, j.m1-j.m0), mr)*mr, kcBlock, ceilDiv(min(sgemmNC, j.n1-j.n0), nr)*nr)
	block := 0
	for jc := j.n0; jc < j.n1; jc += sgemmNC {
		nc := min(sgemmNC, j.n1-jc)
		for pc := 0; pc < j.k; pc += kcBlock {
			kc := min(kcBlock, j.k-pc)
			bpack := s.b
			if j.packed != nil {
				bpack = j.packed.blocks[block]
				block++
			} else {
				packB(s.b, nr, j.b, j.ldb, j.transB, pc, kc, jc, nc)
			}
			beta := j.beta
			if pc > 0 {
				beta = 1 // later k blocks accumulate onto the first
			}
			for ic := j.m0; ic < j.m1; ic += sgemmMC {
				mc := min(sgemmMC, j.m1-ic)
				if packAll {
					packA(s.a, mr, j.a, j.lda, false, ic, mc, pc, kc)
				} else if last := mc - (mc-1)%mr - 1; last+mr > mc {
					j.packPartialPanel(s.a, ic+last, mc-last, pc, kc)
				}
				for jr := 0; jr < nc; jr += nr {
					bp := bpack[jr*kc : (jr+nr)*kc]
					for ir := 0; ir < mc; ir += mr {
						rows, cols := min(mr, mc-ir), min(nr, nc-jr)
						ci := (ic+ir)*j.ldc + jc + jr
						switch {
						case packAll:
							j.tile(s.tile, kc, s.a[ir*kc:(ir+mr)*kc], mr, 0, bp, ci, rows, cols, beta)
						case rows < mr && rowsInPlace:
							j.tile(s.tile, kc, s.a[:mr*kc], 0, kc, bp, ci, rows, cols, beta)
						case rows < mr:
							j.tile(s.tile, kc, s.a[:mr*kc], mr, 0, bp, ci, rows, cols, beta)
						case rowsInPlace:
							j.tile(s.tile, kc, j.a[(ic+ir)*j.lda+pc:], 0, j.lda, bp, ci, rows, cols, beta)
						default: // transposed A in place
							j.tile(s.tile, kc, j.a[pc*j.lda+ic+ir:], j.lda, 0, bp, ci, rows, cols, beta)
						}
					}
				}
			}
		}
	}
}

// packPartialPanel copies the last rows (fewer than mr) of an A block, k
// steps pc..pc+kc, into buf zero-padded to a full panel, so that the kernel
// never reads past the matrix: as mr rows of kc for tileRows, otherwise as kc
// steps of mr.
func (j *sgemmJob) packPartialPanel(buf []float32, i0, rows, pc, kc int) {
	mr := j.kern.mr
	buf = buf[:mr*kc]
	if j.transA {
		packA(buf, mr, j.a, j.lda, true, i0, rows, pc, kc)
		return
	}
	for r := range mr {
		if r < rows {
			copy(buf[r*kc:(r+1)*kc], j.a[(i0+r)*j.lda+pc:])
		} else {
			clear(buf[r*kc : (r+1)*kc])
		}
	}
}

// tile runs the kernel on the rows×cols tile of C at offset ci. A is read as
// k steps astep apart, or, when astep is 0, as rows lda apart (tileRows). A
// partial tile at the bottom or right edge goes through a full-size buffer,
// so the kernel computes every element the same way wherever the tile lies.
func (j *sgemmJob) tile(buf []float32, kc int, ap []float32, astep, lda int, bp []float32, ci, rows, cols int, beta float32) {
	mr, nr := j.kern.mr, j.kern.nr
	c, ldc := j.c[ci:], j.ldc
	partial := rows < mr || cols < nr
	if partial {
		buf = buf[:mr*nr]
		if beta != 0 {
			for r := range rows {
				copy(buf[r*nr:r*nr+cols], c[r*ldc:r*ldc+cols])
			}
		}
		c, ldc = buf, nr
	} else {
		c = c[:(mr-1)*ldc+nr]
	}
	if astep == 0 {
		j.kern.tileRows(kc, ap, lda, bp, c, ldc, j.alpha, beta)
	} else {
		j.kern.tile(kc, ap, astep, bp, c, ldc, j.alpha, beta)
	}
	if partial {
		for r := range rows {
			copy(j.c[ci+r*j.ldc:ci+r*j.ldc+cols], buf[r*nr:r*nr+cols])
		}
	}
}

// packA copies rows [i0,i0+mc) and columns [p0,p0+kc) of op(A) into dst as
// consecutive mr-row panels, each holding kc steps of mr values; rows past mc
// in the last panel are zero.
func packA(dst []float32, mr int, a []float32, lda int, trans bool, i0, mc, p0, kc int) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if trans {
			// op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run.
			for p := range kc {
				src := a[(p0+p)*lda+i0+ir:]
				d := panel[p*mr : p*mr+mr]
				copy(d, src[:rows])
				clear(d[rows:])
			}
			continue
		}
		for r := range rows {
			src := a[(i0+ir+r)*lda+p0 : (i0+ir+r)*lda+p0+kc]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := range kc {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies rows [p0,p0+kc) and columns [j0,j0+nc) of op(B) into dst as
// consecutive nr-column panels, each holding kc steps of nr values; columns
// past nc in the last panel are zero.
func packB(dst []float32, nr int, b []float32, ldb int, trans bool, p0, kc, j0, nc int) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		if !trans {
			for p := range kc {
				src := b[(p0+p)*ldb+j0+jr:]
				d := panel[p*nr : p*nr+nr]
				copy(d, src[:cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]: a transpose. Eight columns of op(B) (rows
		// of b) at a time, so that each k step writes eight consecutive
		// values: 2.2x the column-at-a-time scatter on attention's K·Qᵀ
		// (97 keys × 32), where packing cost as much as the product.
		c := 0
		for ; c+8 <= cols; c += 8 {
			at := (j0+jr+c)*ldb + p0
			r0, r1, r2, r3 := b[at:][:kc], b[at+ldb:][:kc], b[at+2*ldb:][:kc], b[at+3*ldb:][:kc]
			r4, r5, r6, r7 := b[at+4*ldb:][:kc], b[at+5*ldb:][:kc], b[at+6*ldb:][:kc], b[at+7*ldb:][:kc]
			for p := range kc {
				d := (*[8]float32)(panel[p*nr+c:])
				d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p], r6[p], r7[p]
			}
		}
		for ; c < cols; c++ {
			src := b[(j0+jr+c)*ldb+p0:][:kc]
			for p, v := range src {
				panel[p*nr+c] = v
			}
		}
		if cols < nr {
			for p := range kc {
				clear(panel[p*nr+cols : (p+1)*nr])
			}
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// scaleRow sets row to beta*row, writing zeros outright when beta is 0 so that
// NaN or Inf already in C cannot survive.
func scaleRow(row []float32, beta float32) {
	switch beta {
	case 0:
		clear(row)
	case 1:
	default:
		for j := range row {
			row[j] *= beta
		}
	}
}
