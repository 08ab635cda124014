//go:build !purego

#include "textflag.h"

// func expAVX512(x *float32, n int)
//
// x[i] = e^x[i] in place for n values, n a multiple of 16: the same
// reduction and polynomial as kernels.ExpSlice (x = k·ln2 + r, Cephes
// degree-7 polynomial for e^r), with k rounded to nearest even and the
// 2^k scaling done by VSCALEFPS. Below -87.33654 the result is 0, above
// 88.72283 it is +Inf, NaN stays NaN, as in the scalar version.
TEXT ·expAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	JZ   done

	MOVL $0xc2aeac4f, AX; VPBROADCASTD AX, Z16 // lo
	MOVL $0x42b17217, AX; VPBROADCASTD AX, Z17 // hi
	MOVL $0x3fb8aa3b, AX; VPBROADCASTD AX, Z18 // log2(e)
	MOVL $0x3f318000, AX; VPBROADCASTD AX, Z19 // c1 (ln2 high part)
	MOVL $0xb95e8083, AX; VPBROADCASTD AX, Z20 // c2 (ln2 low part)
	MOVL $0x39506967, AX; VPBROADCASTD AX, Z21 // p0
	MOVL $0x3ab743ce, AX; VPBROADCASTD AX, Z22 // p1
	MOVL $0x3c088908, AX; VPBROADCASTD AX, Z23 // p2
	MOVL $0x3d2aa9c1, AX; VPBROADCASTD AX, Z24 // p3
	MOVL $0x3e2aaaaa, AX; VPBROADCASTD AX, Z25 // p4
	MOVL $0x3f000000, AX; VPBROADCASTD AX, Z26 // p5
	MOVL $0x3f800000, AX; VPBROADCASTD AX, Z27 // 1
	MOVL $0x7f800000, AX; VPBROADCASTD AX, Z28 // +Inf
	VPXORD Z29, Z29, Z29                       // 0

loop:
	VMOVUPS (DI), Z0
	VCMPPS  $0x01, Z16, Z0, K1 // x < lo
	VCMPPS  $0x0e, Z17, Z0, K2 // x > hi
	VCMPPS  $0x03, Z0, Z0, K3  // x is NaN
	VMAXPS  Z16, Z0, Z1
	VMINPS  Z17, Z1, Z1        // clamped x
	VMULPS  Z18, Z1, Z2
	VRNDSCALEPS $0, Z2, Z2     // k = round(x·log2e)
	VMOVAPS Z1, Z3
	VFNMADD231PS Z19, Z2, Z3   // r = x - k·c1
	VFNMADD231PS Z20, Z2, Z3   // r -= k·c2
	VMOVAPS Z21, Z4
	VFMADD213PS Z22, Z3, Z4    // p = p·r + p1
	VFMADD213PS Z23, Z3, Z4
	VFMADD213PS Z24, Z3, Z4
	VFMADD213PS Z25, Z3, Z4
	VFMADD213PS Z26, Z3, Z4
	VMULPS  Z3, Z3, Z5         // r²
	VFMADD213PS Z3, Z5, Z4     // p·r² + r
	VADDPS  Z27, Z4, Z4        // + 1
	VSCALEFPS Z2, Z4, Z4       // · 2^k
	VMOVAPS Z29, K1, Z4
	VMOVAPS Z28, K2, Z4
	VMOVAPS Z0, K3, Z4
	VMOVUPS Z4, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER

done:
	RET
