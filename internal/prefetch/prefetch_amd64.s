#include "textflag.h"

// func hint(addr, lines uintptr)
// PREFETCHT0 for lines consecutive cache lines from addr (lines > 0).
TEXT ·hint(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ lines+8(FP), CX
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loop
	RET
