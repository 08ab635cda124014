package cpu

// sgemmKernel is a register-blocked micro-kernel: tile computes one mr×nr
// block of C = alpha*A*B + beta*C from an A panel of k steps of mr
// consecutive values, astep apart (a packed panel, or a transposed A read in
// place), and a packed B panel (k steps of nr values), with C rows ldc apart.
// When beta is 0 it must not read C. k is at least 1 and the slices hold the
// full panels and tile.
//
// tileRows, where a kernel has it, does the same with A read in place as mr
// rows lda apart, which spares packing a row-major A. For a given element it
// performs exactly the arithmetic of tile.
type sgemmKernel struct {
	name     string
	mr, nr   int
	tile     func(k int, a []float32, astep int, b, c []float32, ldc int, alpha, beta float32)
	tileRows func(k int, a []float32, lda int, b, c []float32, ldc int, alpha, beta float32)
}

// kernelGeneric is the pure-Go micro-kernel: the fallback on CPUs without
// AVX2/FMA and the twin the assembly kernels are tested beside.
var kernelGeneric = &sgemmKernel{name: "generic", mr: 4, nr: 4, tile: sgemmTile4x4}

func sgemmTile4x4(k int, a []float32, astep int, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	b = b[:4*k]
	for p := 0; p < k; p++ {
		ap, bp := a[p*astep:p*astep+4:p*astep+4], b[4*p:4*p+4:4*p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow4(c[0:4], c00, c01, c02, c03, alpha, beta)
	storeRow4(c[ldc:ldc+4], c10, c11, c12, c13, alpha, beta)
	storeRow4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	storeRow4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

func storeRow4(c []float32, v0, v1, v2, v3, alpha, beta float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	c[0] = alpha*v0 + beta*c[0]
	c[1] = alpha*v1 + beta*c[1]
	c[2] = alpha*v2 + beta*c[2]
	c[3] = alpha*v3 + beta*c[3]
}
