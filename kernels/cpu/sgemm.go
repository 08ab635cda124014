package cpu

// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices.
//
// op(A) is m×k: A is stored m×k, or k×m when transA. op(B) is k×n: B is
// stored k×n, or n×k when transB. lda, ldb and ldc are row strides in
// elements. When beta is 0, C is overwritten without being read, so NaNs in
// C do not leak into the result.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		scaleRow(row, beta)
		if k <= 0 || alpha == 0 {
			continue
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if transB {
				for j := range row {
					row[j] += av * b[j*ldb+p]
				}
			} else {
				brow := b[p*ldb : p*ldb+n]
				for j := range row {
					row[j] += av * brow[j]
				}
			}
		}
	}
}

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
