// Command machine measures how two busy goroutines share this machine, which
// explains the loader's and the model's scaling figures: a loop bound by
// instruction throughput, one bound by a chain of dependent multiplications,
// and random 162-byte row copies bound by memory latency, each on one and on
// two goroutines. Two cores of their own give every kind 2x; two hardware
// threads of one core give the throughput-bound loop much less.
//
//	go run ./benchmarks/machine
package main

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// sink keeps each work function's result alive, so that the compiler cannot
// drop a loop whose result nobody reads.
var sink atomic.Uint64

// throughput runs six independent add/xor chains: limited by how many
// instructions a core issues per cycle.
func throughput(n int) uint64 {
	var a, b, c, d, e, f uint64 = 1, 2, 3, 4, 5, 6
	for i := uint64(0); i < uint64(n); i++ {
		a += i
		b ^= a
		c += b
		d ^= i
		e += d
		f ^= e
	}
	return a + b + c + d + e + f
}

// latency runs one chain of dependent 64-bit multiplications (as Philox
// does): limited by the multiplier's latency, leaving the core mostly idle.
func latency(n int) uint64 {
	x := uint64(0x9E3779B97F4A7C15)
	for range n {
		hi, lo := bits.Mul64(x, 0xD2E7470EE14C6C93)
		x = hi ^ lo
	}
	return x
}

// gather copies n random 162-byte rows out of src: limited by memory latency.
func gather(src []byte, n int, seed uint64) uint64 {
	const row = 162
	rng := rand.New(rand.NewPCG(seed, 1))
	dst := make([]byte, 768*row)
	rows := len(src) / row
	for i := range n {
		r := rng.IntN(rows)
		copy(dst[i%768*row:], src[r*row:(r+1)*row])
	}
	return uint64(dst[0])
}

// scaling returns the work per second of one goroutine and of two.
func scaling(work func(seed uint64)) (one, two float64) {
	for g := 1; g <= 2; g++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for k := range g {
			wg.Add(1)
			go func() { defer wg.Done(); work(uint64(k)) }()
		}
		wg.Wait()
		rate := float64(g) / time.Since(t0).Seconds()
		if g == 1 {
			one = rate
		} else {
			two = rate
		}
	}
	return one, two
}

func main() {
	src := make([]byte, 160<<20) // 160 MB, well beyond the caches
	for i := range src {
		src[i] = byte(i)
	}
	fmt.Printf("GOMAXPROCS %d\n", runtime.GOMAXPROCS(0))
	fmt.Printf("%-36s %10s\n", "work", "2 goroutines / 1")
	for _, c := range []struct {
		name string
		work func(uint64)
	}{
		{"throughput-bound integer loop", func(uint64) { sink.Add(throughput(400_000_000)) }},
		{"latency-bound multiply chain", func(uint64) { sink.Add(latency(100_000_000)) }},
		{"memory-bound random row copies", func(s uint64) { sink.Add(gather(src, 5_000_000, s)) }},
	} {
		// The best rate of each over five rounds, so that a slow round
		// (another tenant, a frequency change) does not decide the ratio.
		var bestOne, bestTwo float64
		for range 5 {
			one, two := scaling(c.work)
			bestOne, bestTwo = max(bestOne, one), max(bestTwo, two)
		}
		fmt.Printf("%-36s %9.2fx\n", c.name, bestTwo/bestOne)
	}
}
