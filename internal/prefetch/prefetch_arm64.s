#include "textflag.h"

// func hint(addr, lines uintptr)
// PRFM PLDL1KEEP for lines consecutive cache lines from addr (lines > 0).
TEXT ·hint(SB), NOSPLIT, $0-16
	MOVD addr+0(FP), R0
	MOVD lines+8(FP), R1
loop:
	PRFM (R0), PLDL1KEEP
	ADD $64, R0
	SUBS $1, R1
	BNE loop
	RET
