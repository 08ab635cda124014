//go:build !purego

#include "textflag.h"

// Micro-kernels for Sgemm. Each computes one MR×NR tile of C from an A panel
// and a packed B panel (k steps of NR values):
//
//	acc = sum over p of A[r][p] * B[p][j]
//	C[r][j] = alpha*acc + beta*C[r][j]   (C not read when beta is 0)
//
// The plain kernels read A as k steps of MR consecutive values, astep
// elements apart: a packed panel (astep = MR) or a transposed A in place
// (astep = lda). The *Rows kernels read MR rows of a row-major A in place,
// lda elements apart. Both do the same arithmetic in the same order.
// Strides are in elements; k >= 1.

// One k step of the 12×32 AVX-512 kernel for row r: broadcast A[p][r] and
// multiply it into both 16-wide halves of the row's accumulators. Rows take
// turns over four broadcast registers so neighbouring rows overlap.
#define ROW512(off, bc, acc0, acc1) \
	VBROADCASTSS off(AX), bc; \
	VFMADD231PS  Z24, bc, acc0; \
	VFMADD231PS  Z25, bc, acc1

#define STEP512(boff) \
	VMOVUPS boff(BX), Z24; \
	VMOVUPS boff+64(BX), Z25; \
	ROW512(0, Z26, Z0, Z1); \
	ROW512(4, Z27, Z2, Z3); \
	ROW512(8, Z28, Z4, Z5); \
	ROW512(12, Z29, Z6, Z7); \
	ROW512(16, Z26, Z8, Z9); \
	ROW512(20, Z27, Z10, Z11); \
	ROW512(24, Z28, Z12, Z13); \
	ROW512(28, Z29, Z14, Z15); \
	ROW512(32, Z26, Z16, Z17); \
	ROW512(36, Z27, Z18, Z19); \
	ROW512(40, Z28, Z20, Z21); \
	ROW512(44, Z29, Z22, Z23)

// Writes one row of the tile: alpha*acc (+ beta*C) at DX, then DX += ldc.
#define STORE512(acc0, acc1) \
	VMULPS      Z30, acc0, acc0; \
	VMULPS      Z30, acc1, acc1; \
	VFMADD231PS (DX), Z31, acc0; \
	VFMADD231PS 64(DX), Z31, acc1; \
	VMOVUPS     acc0, (DX); \
	VMOVUPS     acc1, 64(DX); \
	ADDQ        R8, DX

#define STORE512Z(acc0, acc1) \
	VMULPS  Z30, acc0, acc0; \
	VMULPS  Z30, acc1, acc1; \
	VMOVUPS acc0, (DX); \
	VMOVUPS acc1, 64(DX); \
	ADDQ    R8, DX

// Prefetches the 12 rows of the C tile at DX (row stride R8) while the k
// loop runs: the rows are far apart and usually not cached, and the stores
// would otherwise stall on them. A row of 32 floats spans two or three
// cache lines, touched at offsets 0, 64 and 127. Uses R14.
#define PREFETCH_C12 \
	MOVQ DX, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 127(R14); \
	ADDQ R8, R14

#define ZERO_ACC512 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23

#define STORE_ACC512 \
	STORE512(Z0, Z1); \
	STORE512(Z2, Z3); \
	STORE512(Z4, Z5); \
	STORE512(Z6, Z7); \
	STORE512(Z8, Z9); \
	STORE512(Z10, Z11); \
	STORE512(Z12, Z13); \
	STORE512(Z14, Z15); \
	STORE512(Z16, Z17); \
	STORE512(Z18, Z19); \
	STORE512(Z20, Z21); \
	STORE512(Z22, Z23)

#define STORE_ACC512Z \
	STORE512Z(Z0, Z1); \
	STORE512Z(Z2, Z3); \
	STORE512Z(Z4, Z5); \
	STORE512Z(Z6, Z7); \
	STORE512Z(Z8, Z9); \
	STORE512Z(Z10, Z11); \
	STORE512Z(Z12, Z13); \
	STORE512Z(Z14, Z15); \
	STORE512Z(Z16, Z17); \
	STORE512Z(Z18, Z19); \
	STORE512Z(Z20, Z21); \
	STORE512Z(Z22, Z23)

// func sgemmKernel12x32AVX512(k int, a *float32, astep int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel12x32AVX512(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ astep+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	PREFETCH_C12
	ZERO_ACC512

	// Four k steps per iteration, then the remainder one at a time.
	MOVQ CX, R13
	SHRQ $2, R13
	ANDQ $3, CX
	TESTQ R13, R13
	JZ   tail512

loop512:
	STEP512(0)
	ADDQ R9, AX
	STEP512(128)
	ADDQ R9, AX
	STEP512(256)
	ADDQ R9, AX
	STEP512(384)
	ADDQ R9, AX
	ADDQ $512, BX
	DECQ R13
	JNZ  loop512

tail512:
	TESTQ CX, CX
	JZ    store512

tailloop512:
	STEP512(0)
	ADDQ R9, AX
	ADDQ $128, BX
	DECQ CX
	JNZ  tailloop512

store512:
	VBROADCASTSS alpha+48(FP), Z30
	MOVL         beta+52(FP), R10
	SHLL         $1, R10 // drop the sign: -0 counts as 0
	JZ           storezero512
	VBROADCASTSS beta+52(FP), Z31
	STORE_ACC512
	VZEROUPPER
	RET

storezero512:
	STORE_ACC512Z
	VZEROUPPER
	RET

// The same 12×32 kernel reading A unpacked: row r of the panel starts at
// a + r*lda, so a row-major A needs no packing. Rows 0-5 are addressed from
// AX and rows 6-11 from R12 = AX + 6*lda, with R9 = lda, R10 = 3*lda and
// R11 = 5*lda (bytes) as scaled indexes.
#define ROW512R(addr, bc, acc0, acc1) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS  Z24, bc, acc0; \
	VFMADD231PS  Z25, bc, acc1

#define STEP512R(boff, d) \
	VMOVUPS boff(BX), Z24; \
	VMOVUPS boff+64(BX), Z25; \
	ROW512R(d(AX), Z26, Z0, Z1); \
	ROW512R(d(AX)(R9*1), Z27, Z2, Z3); \
	ROW512R(d(AX)(R9*2), Z28, Z4, Z5); \
	ROW512R(d(AX)(R10*1), Z29, Z6, Z7); \
	ROW512R(d(AX)(R9*4), Z26, Z8, Z9); \
	ROW512R(d(AX)(R11*1), Z27, Z10, Z11); \
	ROW512R(d(R12), Z28, Z12, Z13); \
	ROW512R(d(R12)(R9*1), Z29, Z14, Z15); \
	ROW512R(d(R12)(R9*2), Z26, Z16, Z17); \
	ROW512R(d(R12)(R10*1), Z27, Z18, Z19); \
	ROW512R(d(R12)(R9*4), Z28, Z20, Z21); \
	ROW512R(d(R12)(R11*1), Z29, Z22, Z23)

// func sgemmKernel12x32AVX512Rows(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel12x32AVX512Rows(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R9
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	LEAQ (R10*2), R12
	ADDQ AX, R12
	PREFETCH_C12
	ZERO_ACC512

	MOVQ  CX, R13
	SHRQ  $2, R13
	ANDQ  $3, CX
	TESTQ R13, R13
	JZ    tail512r

loop512r:
	STEP512R(0, 0)
	STEP512R(128, 4)
	STEP512R(256, 8)
	STEP512R(384, 12)
	ADDQ $16, AX
	ADDQ $16, R12
	ADDQ $512, BX
	DECQ R13
	JNZ  loop512r

tail512r:
	TESTQ CX, CX
	JZ    store512r

tailloop512r:
	STEP512R(0, 0)
	ADDQ $4, AX
	ADDQ $4, R12
	ADDQ $128, BX
	DECQ CX
	JNZ  tailloop512r

store512r:
	VBROADCASTSS alpha+48(FP), Z30
	MOVL         beta+52(FP), R10
	SHLL         $1, R10
	JZ           storezero512r
	VBROADCASTSS beta+52(FP), Z31
	STORE_ACC512
	VZEROUPPER
	RET

storezero512r:
	STORE_ACC512Z
	VZEROUPPER
	RET

// The 6×16 AVX2 kernel: accumulators Y0-Y11, B in Y12/Y13, broadcasts in
// Y14/Y15.
#define ROW256(addr, bc, acc0, acc1) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS  Y12, bc, acc0; \
	VFMADD231PS  Y13, bc, acc1

#define STEP256(boff) \
	VMOVUPS boff(BX), Y12; \
	VMOVUPS boff+32(BX), Y13; \
	ROW256(0(AX), Y14, Y0, Y1); \
	ROW256(4(AX), Y15, Y2, Y3); \
	ROW256(8(AX), Y14, Y4, Y5); \
	ROW256(12(AX), Y15, Y6, Y7); \
	ROW256(16(AX), Y14, Y8, Y9); \
	ROW256(20(AX), Y15, Y10, Y11)

#define STORE256(acc0, acc1) \
	VMULPS      Y14, acc0, acc0; \
	VMULPS      Y14, acc1, acc1; \
	VFMADD231PS (DX), Y15, acc0; \
	VFMADD231PS 32(DX), Y15, acc1; \
	VMOVUPS     acc0, (DX); \
	VMOVUPS     acc1, 32(DX); \
	ADDQ        R8, DX

#define STORE256Z(acc0, acc1) \
	VMULPS  Y14, acc0, acc0; \
	VMULPS  Y14, acc1, acc1; \
	VMOVUPS acc0, (DX); \
	VMOVUPS acc1, 32(DX); \
	ADDQ    R8, DX

// The same for the 6 rows of an AVX2 tile: 16 floats, one or two lines.
#define PREFETCH_C6 \
	MOVQ DX, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14; \
	PREFETCHT0 (R14); \
	PREFETCHT0 63(R14); \
	ADDQ R8, R14

#define ZERO_ACC256 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

#define STORE_ACC256 \
	STORE256(Y0, Y1); \
	STORE256(Y2, Y3); \
	STORE256(Y4, Y5); \
	STORE256(Y6, Y7); \
	STORE256(Y8, Y9); \
	STORE256(Y10, Y11)

#define STORE_ACC256Z \
	STORE256Z(Y0, Y1); \
	STORE256Z(Y2, Y3); \
	STORE256Z(Y4, Y5); \
	STORE256Z(Y6, Y7); \
	STORE256Z(Y8, Y9); \
	STORE256Z(Y10, Y11)

// func sgemmKernel6x16AVX2(k int, a *float32, astep int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16AVX2(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ astep+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	PREFETCH_C6

	ZERO_ACC256

	MOVQ  CX, R13
	SHRQ  $2, R13
	ANDQ  $3, CX
	TESTQ R13, R13
	JZ    tail256

loop256:
	STEP256(0)
	ADDQ R9, AX
	STEP256(64)
	ADDQ R9, AX
	STEP256(128)
	ADDQ R9, AX
	STEP256(192)
	ADDQ R9, AX
	ADDQ $256, BX
	DECQ R13
	JNZ  loop256

tail256:
	TESTQ CX, CX
	JZ    store256

tailloop256:
	STEP256(0)
	ADDQ R9, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  tailloop256

store256:
	VBROADCASTSS alpha+48(FP), Y14
	MOVL         beta+52(FP), R10
	SHLL         $1, R10
	JZ           storezero256
	VBROADCASTSS beta+52(FP), Y15
	STORE_ACC256
	VZEROUPPER
	RET

storezero256:
	STORE_ACC256Z
	VZEROUPPER
	RET

// The 6×16 kernel reading A unpacked, rows lda apart: R9 = lda, R10 = 3*lda,
// R11 = 5*lda (bytes) index rows 1-5 from AX.
#define STEP256R(boff, d) \
	VMOVUPS boff(BX), Y12; \
	VMOVUPS boff+32(BX), Y13; \
	ROW256(d(AX), Y14, Y0, Y1); \
	ROW256(d(AX)(R9*1), Y15, Y2, Y3); \
	ROW256(d(AX)(R9*2), Y14, Y4, Y5); \
	ROW256(d(AX)(R10*1), Y15, Y6, Y7); \
	ROW256(d(AX)(R9*4), Y14, Y8, Y9); \
	ROW256(d(AX)(R11*1), Y15, Y10, Y11)

// func sgemmKernel6x16AVX2Rows(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16AVX2Rows(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R9
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	PREFETCH_C6
	ZERO_ACC256

	MOVQ  CX, R13
	SHRQ  $2, R13
	ANDQ  $3, CX
	TESTQ R13, R13
	JZ    tail256r

loop256r:
	STEP256R(0, 0)
	STEP256R(64, 4)
	STEP256R(128, 8)
	STEP256R(192, 12)
	ADDQ $16, AX
	ADDQ $256, BX
	DECQ R13
	JNZ  loop256r

tail256r:
	TESTQ CX, CX
	JZ    store256r

tailloop256r:
	STEP256R(0, 0)
	ADDQ $4, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  tailloop256r

store256r:
	VBROADCASTSS alpha+48(FP), Y14
	MOVL         beta+52(FP), R10
	SHLL         $1, R10
	JZ           storezero256r
	VBROADCASTSS beta+52(FP), Y15
	STORE_ACC256
	VZEROUPPER
	RET

storezero256r:
	STORE_ACC256Z
	VZEROUPPER
	RET
