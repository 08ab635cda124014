//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func sgemmKernel12x32AVX512(k int, a *float32, astep int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x32AVX512Rows(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x16AVX2(k int, a *float32, astep int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x16AVX2Rows(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

var kernelAVX512 = &sgemmKernel{
	name: "avx512", mr: 12, nr: 32,
	tile: func(k int, a []float32, astep int, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[(k-1)*astep+11] // the asm reads k steps of 12 values
		sgemmKernel12x32AVX512(k, &a[0], astep, &b[0], &c[0], ldc, alpha, beta)
	},
	tileRows: func(k int, a []float32, lda int, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[11*lda+k-1] // the asm reads rows 0-11, k values each
		sgemmKernel12x32AVX512Rows(k, &a[0], lda, &b[0], &c[0], ldc, alpha, beta)
	},
}

var kernelAVX2 = &sgemmKernel{
	name: "avx2", mr: 6, nr: 16,
	tile: func(k int, a []float32, astep int, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[(k-1)*astep+5] // the asm reads k steps of 6 values
		sgemmKernel6x16AVX2(k, &a[0], astep, &b[0], &c[0], ldc, alpha, beta)
	},
	tileRows: func(k int, a []float32, lda int, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[5*lda+k-1] // the asm reads rows 0-5, k values each
		sgemmKernel6x16AVX2Rows(k, &a[0], lda, &b[0], &c[0], ldc, alpha, beta)
	},
}

// sgemmKernels lists the micro-kernels this CPU can run, fastest first; the
// pure-Go kernel is always last.
func sgemmKernels() []*sgemmKernel {
	var ks []*sgemmKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernelAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelAVX2)
	}
	return append(ks, kernelGeneric)
}
