//go:build !purego

#include "textflag.h"

// MULHL sets HI:LO to the 128-bit product of each 64-bit lane of X with
// the constant whose low and high 32-bit halves are broadcast in ML and
// MH, from four 32x32-bit products (AVX-512 has no 64x64-bit high
// multiply). Z12 holds 0xffffffff per lane; Z24-Z27 are scratch.
#define MULHL(X, ML, MH, HI, LO) \
	VPSRLQ     $32, X, Z24   \
	VPMULUDQ   ML, X, Z25    \
	VPMULUDQ   MH, X, Z26    \
	VPMULUDQ   ML, Z24, Z27  \
	VPMULUDQ   MH, Z24, HI   \
	VPSRLQ     $32, Z25, Z24 \
	VPADDQ     Z24, Z26, Z26 \
	VPANDQ     Z12, Z26, Z24 \
	VPADDQ     Z24, Z27, Z27 \
	VPSRLQ     $32, Z26, Z26 \
	VPADDQ     Z26, HI, HI   \
	VPSRLQ     $32, Z27, Z24 \
	VPADDQ     Z24, HI, HI   \
	VPSLLQ     $32, Z27, LO  \
	VPTERNLOGQ $0xf8, Z12, Z25, LO

// In MULHL, with x = xh*2^32 + xl and the constant m = mh*2^32 + ml:
// ll = xl*ml, lh = xl*mh, hl = xh*ml, hh = xh*mh (Z25, Z26, Z27, HI);
// t = lh + ll>>32 and u = hl + (t & 0xffffffff) cannot carry out of 64
// bits; hi = hh + t>>32 + u>>32 and lo = u<<32 | (ll & 0xffffffff).

// ROUND applies one Philox round to the four counter words X0-X3 of eight
// blocks, with the round key in Z4, Z5; Z13-Z16 are scratch.
#define ROUND(X0, X1, X2, X3) \
	MULHL(X0, Z8, Z9, Z13, Z14)   \
	MULHL(X2, Z10, Z11, Z15, Z16) \
	VPTERNLOGQ $0x96, Z4, X1, Z15 \
	VPTERNLOGQ $0x96, Z5, X3, Z13 \
	VMOVDQA64  Z15, X0            \
	VMOVDQA64  Z16, X1            \
	VMOVDQA64  Z13, X2            \
	VMOVDQA64  Z14, X3

// TRANSPOSE stores the four words X0-X3 of eight blocks to OFF(DI) in
// block-major order: unpacking pairs words within each 128-bit lane, two
// rounds of 128-bit lane shuffles put each block's four words together.
// Z13-Z24 are scratch.
#define TRANSPOSE(X0, X1, X2, X3, OFF) \
	VPUNPCKLQDQ X1, X0, Z13          \
	VPUNPCKHQDQ X1, X0, Z14          \
	VPUNPCKLQDQ X3, X2, Z15          \
	VPUNPCKHQDQ X3, X2, Z16          \
	VSHUFI64X2  $0x88, Z15, Z13, Z17 \
	VSHUFI64X2  $0x88, Z16, Z14, Z18 \
	VSHUFI64X2  $0xDD, Z15, Z13, Z19 \
	VSHUFI64X2  $0xDD, Z16, Z14, Z20 \
	VSHUFI64X2  $0x88, Z18, Z17, Z21 \
	VSHUFI64X2  $0x88, Z20, Z19, Z22 \
	VSHUFI64X2  $0xDD, Z18, Z17, Z23 \
	VSHUFI64X2  $0xDD, Z20, Z19, Z24 \
	VMOVDQU64   Z21, OFF(DI)         \
	VMOVDQU64   Z22, OFF+64(DI)      \
	VMOVDQU64   Z23, OFF+128(DI)     \
	VMOVDQU64   Z24, OFF+192(DI)

// After the unpacks, lane i of Z13, Z14, Z15, Z16 holds words 0-1 of block
// 2i, words 0-1 of block 2i+1, words 2-3 of block 2i and of block 2i+1;
// the shuffles gather lanes 0 and 2, then 1 and 3, into blocks 0-1, 2-3,
// 4-5 and 6-7.

// func philoxBlocksAVX512(out, ctr *[64]uint64, key *[2]uint64)
// Two groups of eight blocks, in Z0-Z3 and Z28-Z31, go through the rounds
// together: one group's chain of dependent multiplies leaves the vector
// units idle half the time.
TEXT ·philoxBlocksAVX512(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ ctr+8(FP), SI
	MOVQ key+16(FP), DX

	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVDQU64 256(SI), Z28
	VMOVDQU64 320(SI), Z29
	VMOVDQU64 384(SI), Z30
	VMOVDQU64 448(SI), Z31
	VPBROADCASTQ 0(DX), Z4
	VPBROADCASTQ 8(DX), Z5
	MOVQ $0x9E3779B97F4A7C15, AX // Weyl constants
	VPBROADCASTQ AX, Z6
	MOVQ $0xBB67AE8584CAA73B, AX
	VPBROADCASTQ AX, Z7
	MOVL $0xE14C6C93, AX // multiplier 0, low and high halves
	VPBROADCASTQ AX, Z8
	MOVL $0xD2E7470E, AX
	VPBROADCASTQ AX, Z9
	MOVL $0x95121157, AX // multiplier 1
	VPBROADCASTQ AX, Z10
	MOVL $0xCA5A8263, AX
	VPBROADCASTQ AX, Z11
	MOVL $0xFFFFFFFF, AX
	VPBROADCASTQ AX, Z12

	MOVQ $10, CX
round:
	ROUND(Z0, Z1, Z2, Z3)
	ROUND(Z28, Z29, Z30, Z31)
	VPADDQ Z6, Z4, Z4
	VPADDQ Z7, Z5, Z5
	DECQ CX
	JNZ  round

	TRANSPOSE(Z0, Z1, Z2, Z3, 0)
	TRANSPOSE(Z28, Z29, Z30, Z31, 256)
	VZEROUPPER
	RET
