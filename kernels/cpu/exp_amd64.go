//go:build !purego

package cpu

import (
	"golang.org/x/sys/cpu"

	"github.com/tinyrecursion/trm/kernels"
)

//go:noescape
func expAVX512(x *float32, n int)

var useExpAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// expInPlace32 sets x[i] = e^x[i], 16 lanes at a time where AVX-512 is
// available, the scalar definition for the rest.
func expInPlace32(x []float32) {
	n := len(x) &^ 15
	if !useExpAVX512 || n == 0 {
		kernels.ExpSlice(x)
		return
	}
	expAVX512(&x[0], n)
	kernels.ExpSlice(x[n:])
}
