//go:build !purego

package cpu

import (
	"golang.org/x/sys/cpu"

	"github.com/tinyrecursion/trm/kernels"
)

//go:noescape
func expAVX512(x *float32, n int)

//go:noescape
func swigluAVX512(out, gate, up *float32, n int)

//go:noescape
func swigluBackwardAVX512(dg, du, d, gate, up *float32, n int)

//go:noescape
func softmaxAVX512(x *float32, n int)

var useExpAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasBMI2

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

// swigluRows32 is kernels.SwiGLURows for float32, 16 lanes at a time where
// AVX-512 is available (TRM's widths are multiples of 256; other widths
// finish with the scalar formula).
func swigluRows32(out, gateUp []float32, inter, lo, hi int) {
	n := inter &^ 15
	if !useExpAVX512 || n == 0 {
		kernels.SwiGLURows(out, gateUp, inter, expInPlace32, lo, hi)
		return
	}
	for r := lo; r < hi; r++ {
		g := gateUp[r*2*inter : r*2*inter+inter]
		u := gateUp[r*2*inter+inter : (r+1)*2*inter]
		o := out[r*inter : (r+1)*inter]
		swigluAVX512(&o[0], &g[0], &u[0], n)
		for i := n; i < inter; i++ {
			o[i] = -g[i]
		}
		kernels.ExpSlice(o[n:])
		for i := n; i < inter; i++ {
			o[i] = g[i] * u[i] / (1 + o[i])
		}
	}
}

// swigluBackwardRows32 is kernels.SwiGLUBackwardRows for float32.
func swigluBackwardRows32(dgateUp, dout, gateUp []float32, inter, lo, hi int) {
	n := inter &^ 15
	if !useExpAVX512 || n == 0 {
		kernels.SwiGLUBackwardRows(dgateUp, dout, gateUp, inter, expInPlace32, lo, hi)
		return
	}
	for r := lo; r < hi; r++ {
		g := gateUp[r*2*inter : r*2*inter+inter]
		u := gateUp[r*2*inter+inter : (r+1)*2*inter]
		dg := dgateUp[r*2*inter : r*2*inter+inter]
		du := dgateUp[r*2*inter+inter : (r+1)*2*inter]
		d := dout[r*inter : (r+1)*inter]
		swigluBackwardAVX512(&dg[0], &du[0], &d[0], &g[0], &u[0], n)
		for i := n; i < inter; i++ {
			du[i] = -g[i]
		}
		kernels.ExpSlice(du[n:])
		for i := n; i < inter; i++ {
			s := 1 / (1 + du[i])
			du[i] = d[i] * g[i] * s
			dg[i] = d[i] * u[i] * s * (1 + g[i]*(1-s))
		}
	}
}

// softmax32 is kernels.SoftmaxRow for float32 (the sum in float32 lanes).
func softmax32(row []float32) {
	if !useExpAVX512 || len(row) == 0 {
		kernels.SoftmaxRow(row)
		return
	}
	softmaxAVX512(&row[0], len(row))
}
