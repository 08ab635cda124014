//go:build !purego

#include "textflag.h"

// Vectorised exponential and the SwiGLU activation built on it. The
// exponential is the reduction and polynomial of kernels.ExpSlice
// (x = k·ln2 + r, Cephes' degree-7 polynomial for e^r), with k rounded to
// nearest even and 2^k applied by VSCALEFPS. Below -87.33654 the result is
// 0, above 88.72283 it is +Inf, NaN stays NaN, as in the scalar version.

// EXPCONSTS loads the constants into Z16-Z29.
#define EXPCONSTS \
	MOVL $0xc2aeac4f, AX; VPBROADCASTD AX, Z16; \ // lo
	MOVL $0x42b17217, AX; VPBROADCASTD AX, Z17; \ // hi
	MOVL $0x3fb8aa3b, AX; VPBROADCASTD AX, Z18; \ // log2(e)
	MOVL $0x3f318000, AX; VPBROADCASTD AX, Z19; \ // c1, ln2 high part
	MOVL $0xb95e8083, AX; VPBROADCASTD AX, Z20; \ // c2, ln2 low part
	MOVL $0x39506967, AX; VPBROADCASTD AX, Z21; \ // p0
	MOVL $0x3ab743ce, AX; VPBROADCASTD AX, Z22; \ // p1
	MOVL $0x3c088908, AX; VPBROADCASTD AX, Z23; \ // p2
	MOVL $0x3d2aa9c1, AX; VPBROADCASTD AX, Z24; \ // p3
	MOVL $0x3e2aaaaa, AX; VPBROADCASTD AX, Z25; \ // p4
	MOVL $0x3f000000, AX; VPBROADCASTD AX, Z26; \ // p5
	MOVL $0x3f800000, AX; VPBROADCASTD AX, Z27; \ // 1
	MOVL $0x7f800000, AX; VPBROADCASTD AX, Z28; \ // +Inf
	VPXORD Z29, Z29, Z29                          // 0

// EXP sets Z4 = e^Z0 (16 lanes), using Z1-Z5 and K1-K3.
#define EXP \
	VCMPPS  $0x01, Z16, Z0, K1; \ // x < lo
	VCMPPS  $0x0e, Z17, Z0, K2; \ // x > hi
	VCMPPS  $0x03, Z0, Z0, K3; \  // x is NaN
	VMAXPS  Z16, Z0, Z1; \
	VMINPS  Z17, Z1, Z1; \
	VMULPS  Z18, Z1, Z2; \
	VRNDSCALEPS $0, Z2, Z2; \     // k = round(x·log2e)
	VMOVAPS Z1, Z3; \
	VFNMADD231PS Z19, Z2, Z3; \   // r = x - k·c1
	VFNMADD231PS Z20, Z2, Z3; \   // r -= k·c2
	VMOVAPS Z21, Z4; \
	VFMADD213PS Z22, Z3, Z4; \    // p = p·r + p1 ...
	VFMADD213PS Z23, Z3, Z4; \
	VFMADD213PS Z24, Z3, Z4; \
	VFMADD213PS Z25, Z3, Z4; \
	VFMADD213PS Z26, Z3, Z4; \
	VMULPS  Z3, Z3, Z5; \
	VFMADD213PS Z3, Z5, Z4; \     // p·r² + r
	VADDPS  Z27, Z4, Z4; \        // + 1
	VSCALEFPS Z2, Z4, Z4; \       // · 2^k
	VMOVAPS Z29, K1, Z4; \
	VMOVAPS Z28, K2, Z4; \
	VMOVAPS Z0, K3, Z4

// func expAVX512(x *float32, n int)
//
// x[i] = e^x[i] in place; n is a multiple of 16.
TEXT ·expAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	JZ   expdone
	EXPCONSTS

exploop:
	VMOVUPS (DI), Z0
	EXP
	VMOVUPS Z4, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ  exploop
	VZEROUPPER

expdone:
	RET

// func swigluAVX512(out, gate, up *float32, n int)
//
// out[i] = g[i]·u[i]/(1 + e^-g[i]); n is a multiple of 16.
TEXT ·swigluAVX512(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   swdone
	EXPCONSTS

swloop:
	VMOVUPS (SI), Z6
	VSUBPS  Z6, Z29, Z0       // -g
	EXP
	VADDPS  Z27, Z4, Z4       // 1 + e^-g
	VMULPS  (DX), Z6, Z7      // g·u
	VDIVPS  Z4, Z7, Z7
	VMOVUPS Z7, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ CX
	JNZ  swloop
	VZEROUPPER

swdone:
	RET

// func swigluBackwardAVX512(dg, du, d, gate, up *float32, n int)
//
// With s = 1/(1 + e^-g): du = d·g·s, dg = d·u·s·(1 + g·(1-s)); n is a
// multiple of 16.
TEXT ·swigluBackwardAVX512(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ d+16(FP), R9
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), DX
	MOVQ n+40(FP), CX
	SHRQ $4, CX
	JZ   swbdone
	EXPCONSTS

swbloop:
	VMOVUPS (SI), Z6          // g
	VSUBPS  Z6, Z29, Z0
	EXP
	VADDPS  Z27, Z4, Z4
	VDIVPS  Z4, Z27, Z8       // s
	VMOVUPS (R9), Z9          // d
	VMULPS  Z9, Z6, Z10       // d·g
	VMULPS  Z8, Z10, Z10      // d·g·s
	VMOVUPS Z10, (R8)
	VSUBPS  Z8, Z27, Z11      // 1 - s
	VMULPS  Z6, Z11, Z11      // g·(1-s)
	VADDPS  Z27, Z11, Z11     // 1 + g·(1-s)
	VMULPS  (DX), Z9, Z12     // d·u
	VMULPS  Z8, Z12, Z12      // d·u·s
	VMULPS  Z11, Z12, Z12
	VMOVUPS Z12, (DI)
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ CX
	JNZ  swbloop
	VZEROUPPER

swbdone:
	RET

// HREDUCE folds the 16 lanes of Z6 with op so that every lane holds the
// result, using Z7.
#define HREDUCE(op) \
	VSHUFF32X4 $0x4e, Z6, Z6, Z7; op Z7, Z6, Z6; \
	VSHUFF32X4 $0xb1, Z6, Z6, Z7; op Z7, Z6, Z6; \
	VPERMILPS  $0x4e, Z6, Z7;     op Z7, Z6, Z6; \
	VPERMILPS  $0xb1, Z6, Z7;     op Z7, Z6, Z6

// func softmaxAVX512(x *float32, n int)
//
// x = softmax(x) in place for n >= 1 values: max, then e^(x-max) and its
// sum, then a scale by 1/sum. The last n mod 16 values go through masked
// loads and stores.
TEXT ·softmaxAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	EXPCONSTS
	MOVQ CX, BX
	ANDQ $15, BX
	MOVQ $-1, AX
	BZHIQ BX, AX, AX
	KMOVW AX, K4 // tail lanes
	SHRQ $4, CX  // full blocks

	// max
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z6
	VMOVAPS Z6, Z10 // -Inf
	MOVQ DI, SI
	MOVQ CX, R10
	TESTQ R10, R10
	JZ   maxtail
maxloop:
	VMAXPS (SI), Z6, Z6
	ADDQ $64, SI
	DECQ R10
	JNZ  maxloop
maxtail:
	TESTQ BX, BX
	JZ   maxdone
	VMOVAPS Z10, Z7
	VMOVUPS (SI), K4, Z7
	VMAXPS  Z7, Z6, Z6
maxdone:
	HREDUCE(VMAXPS)
	VMOVAPS Z6, Z9 // max in every lane

	// e^(x - max) and the sum
	VPXORD Z6, Z6, Z6
	MOVQ DI, SI
	MOVQ CX, R10
	TESTQ R10, R10
	JZ   exptail
exploop2:
	VMOVUPS (SI), Z0
	VSUBPS  Z9, Z0, Z0
	EXP
	VMOVUPS Z4, (SI)
	VADDPS  Z4, Z6, Z6
	ADDQ $64, SI
	DECQ R10
	JNZ  exploop2
exptail:
	TESTQ BX, BX
	JZ   expdone2
	VMOVUPS.Z (SI), K4, Z0
	VSUBPS  Z9, Z0, Z0
	EXP
	VMOVUPS Z4, K4, (SI)
	VADDPS  Z4, Z6, K4, Z6
expdone2:
	HREDUCE(VADDPS)
	VDIVPS Z6, Z27, Z9 // 1/sum

	// scale
	MOVQ DI, SI
	MOVQ CX, R10
	TESTQ R10, R10
	JZ   scaletail
scaleloop:
	VMULPS  (SI), Z9, Z0
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	DECQ R10
	JNZ  scaleloop
scaletail:
	TESTQ BX, BX
	JZ   scaledone
	VMOVUPS.Z (SI), K4, Z0
	VMULPS  Z9, Z0, Z0
	VMOVUPS Z0, K4, (SI)
scaledone:
	VZEROUPPER
	RET
