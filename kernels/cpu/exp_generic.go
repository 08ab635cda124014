//go:build !amd64 || purego

package cpu

import "github.com/tinyrecursion/trm/kernels"

var useExpAVX512 = false

// expInPlace32 sets x[i] = e^x[i] with the scalar definition.
func expInPlace32(x []float32) { kernels.ExpSlice(x) }

func swigluRows32(out, gateUp []float32, inter, lo, hi int) {
	kernels.SwiGLURows(out, gateUp, inter, expInPlace32, lo, hi)
}

func swigluBackwardRows32(dgateUp, dout, gateUp []float32, inter, lo, hi int) {
	kernels.SwiGLUBackwardRows(dgateUp, dout, gateUp, inter, expInPlace32, lo, hi)
}

func softmax32(row []float32) { kernels.SoftmaxRow(row) }
