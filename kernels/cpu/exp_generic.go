//go:build !amd64 || purego

package cpu

import "github.com/tinyrecursion/trm/kernels"

var useExpAVX512 = false

// expInPlace32 sets x[i] = e^x[i] with the scalar definition.
func expInPlace32(x []float32) { kernels.ExpSlice(x) }
