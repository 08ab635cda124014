//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func fmaPeakAVX512(n int)

//go:noescape
func fmaPeakAVX2(n int)

// fmaPeakLoops lists the FMA throughput loops this CPU runs, with the
// float32 FLOPs one iteration performs (12 FMAs of 16 or 8 lanes).
func fmaPeakLoops() []fmaPeakLoop {
	var ls []fmaPeakLoop
	if cpu.X86.HasAVX512F {
		ls = append(ls, fmaPeakLoop{"avx512", fmaPeakAVX512, 24 * 16 * 2})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ls = append(ls, fmaPeakLoop{"avx2", fmaPeakAVX2, 12 * 8 * 2})
	}
	return ls
}
