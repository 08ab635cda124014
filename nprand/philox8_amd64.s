//go:build !purego

#include "textflag.h"

// MULHL sets HI:LO to the 128-bit product of each 64-bit lane of X with
// the constant whose low and high 32-bit halves are broadcast in ML and
// MH, from four 32x32-bit products (AVX-512 has no 64x64-bit high
// multiply). Z12 holds 0xffffffff per lane; Z24-Z27 are scratch.
#define MULHL(X, ML, MH, HI, LO) \
	VPSRLQ     $32, X, Z24           \ // xh
	VPMULUDQ   ML, X, Z25            \ // ll = xl*ml
	VPMULUDQ   MH, X, Z26            \ // lh = xl*mh
	VPMULUDQ   ML, Z24, Z27          \ // hl = xh*ml
	VPMULUDQ   MH, Z24, HI           \ // hh = xh*mh
	VPSRLQ     $32, Z25, Z24         \
	VPADDQ     Z24, Z26, Z26         \ // t = lh + ll>>32 (no carry out)
	VPANDQ     Z12, Z26, Z24         \
	VPADDQ     Z24, Z27, Z27         \ // u = hl + (t & 0xffffffff) (no carry out)
	VPSRLQ     $32, Z26, Z26         \
	VPADDQ     Z26, HI, HI           \
	VPSRLQ     $32, Z27, Z24         \
	VPADDQ     Z24, HI, HI           \ // hi = hh + t>>32 + u>>32
	VPSLLQ     $32, Z27, LO          \
	VPTERNLOGQ $0xf8, Z12, Z25, LO     // lo = u<<32 | (ll & 0xffffffff)

// func philox8AVX512(out, ctr *[32]uint64, key *[2]uint64)
TEXT ·philox8AVX512(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ ctr+8(FP), SI
	MOVQ key+16(FP), DX

	// Z0-Z3: word j of the eight counters.
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPBROADCASTQ 0(DX), Z4 // round key
	VPBROADCASTQ 8(DX), Z5
	MOVQ $0x9E3779B97F4A7C15, AX
	VPBROADCASTQ AX, Z6 // Weyl constants
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
	MULHL(Z0, Z8, Z9, Z13, Z14)   // hi0, lo0
	MULHL(Z2, Z10, Z11, Z15, Z16) // hi1, lo1
	VPTERNLOGQ $0x96, Z4, Z1, Z15 // hi1 ^ x1 ^ k0
	VPTERNLOGQ $0x96, Z5, Z3, Z13 // hi0 ^ x3 ^ k1
	VMOVDQA64  Z15, Z0
	VMOVDQA64  Z16, Z1
	VMOVDQA64  Z13, Z2
	VMOVDQA64  Z14, Z3
	VPADDQ     Z6, Z4, Z4
	VPADDQ     Z7, Z5, Z5
	DECQ CX
	JNZ  round

	// Transpose to block-major order: unpacking pairs words within each
	// 128-bit lane, two rounds of 128-bit lane shuffles put each block's
	// four words together.
	VPUNPCKLQDQ Z1, Z0, Z13 // lane i: w0, w1 of block 2i
	VPUNPCKHQDQ Z1, Z0, Z14 // lane i: w0, w1 of block 2i+1
	VPUNPCKLQDQ Z3, Z2, Z15 // lane i: w2, w3 of block 2i
	VPUNPCKHQDQ Z3, Z2, Z16 // lane i: w2, w3 of block 2i+1
	VSHUFI64X2  $0x88, Z15, Z13, Z17
	VSHUFI64X2  $0x88, Z16, Z14, Z18
	VSHUFI64X2  $0xDD, Z15, Z13, Z19
	VSHUFI64X2  $0xDD, Z16, Z14, Z20
	VSHUFI64X2  $0x88, Z18, Z17, Z21 // blocks 0, 1
	VSHUFI64X2  $0x88, Z20, Z19, Z22 // blocks 2, 3
	VSHUFI64X2  $0xDD, Z18, Z17, Z23 // blocks 4, 5
	VSHUFI64X2  $0xDD, Z20, Z19, Z24 // blocks 6, 7
	VMOVDQU64   Z21, 0(DI)
	VMOVDQU64   Z22, 64(DI)
	VMOVDQU64   Z23, 128(DI)
	VMOVDQU64   Z24, 192(DI)
	VZEROUPPER
	RET
