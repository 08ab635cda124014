package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

type fmaPeakLoop struct {
	name     string
	run      func(n int)
	flopIter float64
}

// measurePeak runs a loop on GOMAXPROCS goroutines at once and returns the
// FLOP/s all of them achieved together.
func measurePeak(l fmaPeakLoop) float64 {
	procs := runtime.GOMAXPROCS(0)
	const iters = 1 << 22
	l.run(iters / 16) // warm up clocks
	best := 0.0
	for range 5 { // the best of five: other processes share the cores
		var wg sync.WaitGroup
		start := time.Now()
		for range procs {
			wg.Go(func() { l.run(iters) })
		}
		wg.Wait()
		best = max(best, float64(procs)*iters*l.flopIter/time.Since(start).Seconds())
	}
	return best
}

// machinePeak is the best FMA throughput of any loop this CPU runs. The
// benchmarks measure it right after timing a product, so that both see the
// same load from whatever else shares the machine.
func machinePeak() float64 {
	peak := 0.0
	for _, l := range fmaPeakLoops() {
		peak = max(peak, measurePeak(l))
	}
	return peak
}

// BenchmarkFMAPeak reports this machine's float32 FMA throughput on all
// GOMAXPROCS goroutines: the ceiling the Sgemm benchmarks are measured against.
func BenchmarkFMAPeak(b *testing.B) {
	for _, l := range fmaPeakLoops() {
		b.Run(l.name, func(b *testing.B) {
			var flops float64
			for b.Loop() {
				flops = measurePeak(l)
			}
			b.ReportMetric(flops/1e9, "GFLOP/s")
		})
	}
}

// trmTokens is a training batch of 64 sequences of 81+16 positions.
const trmTokens = 64 * 97

// BenchmarkSgemm times the TRM's MLP and attention shapes with every kernel, reporting
// GFLOP/s and the percentage of the measured FMA peak. Weights are stored
// out×in as in the reference, so the forward products (up: tokens×512 times
// 512×1536, down: tokens×1536 times 1536×512) read B transposed; the backward
// ones give dX = dY·W (B as stored) and dW = dYᵀ·X (A transposed, k = tokens).
func BenchmarkSgemm(b *testing.B) {
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		baseline       bool // also time the pure-Go kernel on the full shape
	}{
		{"up_6208x1536x512", false, true, trmTokens, 1536, 512, true},
		{"down_6208x512x1536", false, true, trmTokens, 512, 1536, true},
		{"dX_6208x512x1536", false, false, trmTokens, 512, 1536, false},
		{"dW_1536x512x6208", true, false, 1536, 512, trmTokens, false},
		// One attention head of one sequence (head_dim 32): scores Q·Kᵀ
		// read K transposed, so packing it weighs as much as the product.
		{"attnQK_97x97x32", false, true, 97, 97, 32, false},
		{"attnPV_97x32x97", false, false, 97, 32, 97, false},
	}
	for _, sh := range shapes {
		for _, kern := range sgemmKernels() {
			if kern == kernelGeneric && !sh.baseline {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", sh.name, kern.name), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				x, w, c := randSlice(rng, sh.m*sh.k), randSlice(rng, sh.n*sh.k), make([]float32, sh.m*sh.n)
				lda, ldb := sh.k, sh.n
				if sh.transA {
					lda = sh.m
				}
				if sh.transB {
					ldb = sh.k
				}
				call := func() { sgemmWith(kern, sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, x, lda, w, ldb, 0, c, sh.n) }
				call() // start the workers
				b.ResetTimer()
				for b.Loop() {
					call()
				}
				reportGFLOPs(b, sh.m, sh.n, sh.k)
			})
		}
		if !sh.baseline {
			continue
		}
		// The triple loop is too slow for the full shape; its rate on 97
		// rows (one sequence) is the same-run naive baseline.
		b.Run(sh.name+"/naive_rows97", func(b *testing.B) {
			rows := 97
			rng := rand.New(rand.NewPCG(1, 1))
			x, w, c := randSlice(rng, rows*sh.k), randSlice(rng, sh.n*sh.k), make([]float32, rows*sh.n)
			for b.Loop() {
				naiveSgemm(false, true, rows, sh.n, sh.k, 1, x, sh.k, w, sh.k, 0, c, sh.n)
			}
			reportGFLOPs(b, rows, sh.n, sh.k)
		})
	}
}

// reportGFLOPs reports the rate of b's m×n×k products and its share of the
// FMA peak measured just after.
func reportGFLOPs(b *testing.B, m, n, k int) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(flops/1e9, "GFLOP/s")
	if peak := machinePeak(); peak > 0 {
		b.ReportMetric(100*flops/peak, "%peak")
	}
}
