package prefetch

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestSpan(t *testing.T) {
	for _, c := range []struct{ addr, n, first, lines uintptr }{
		{0x1000, 1, 0x1000, 1},
		{0x1000, 64, 0x1000, 1},
		{0x1000, 65, 0x1000, 2},
		{0x103f, 1, 0x1000, 1},
		{0x103f, 2, 0x1000, 2},
		{0x1010, 162, 0x1000, 3},
		{0x1030, 162, 0x1000, 4},
		{0x1000, 1800, 0x1000, maxLines},
	} {
		first, lines := span(c.addr, c.n)
		if first != c.first || lines != c.lines {
			t.Errorf("span(%#x, %d) = %#x, %d; want %#x, %d", c.addr, c.n, first, lines, c.first, c.lines)
		}
	}
}

// TestRangeAtMappingEdges hints ranges that end on the last byte of a
// mapping, start on its first, and reach past it (prefetches never fault).
func TestRangeAtMappingEdges(t *testing.T) {
	page := syscall.Getpagesize()
	b, err := syscall.Mmap(-1, 0, page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Skip("no anonymous mmap:", err)
	}
	defer syscall.Munmap(b)
	p := unsafe.Pointer(&b[0])
	Range(p, 1)
	Range(unsafe.Add(p, page-1), 1)
	Range(unsafe.Add(p, page-100), 4096) // reaches past the mapping
	Range(p, 0)
	b[0] = 7
	if b[0] != 7 {
		t.Fatal("memory changed under a prefetch")
	}
}

// BenchmarkGather copies 768 random 162-byte rows out of 130 MB into split
// input and label arrays, with and without hints 16 rows ahead: the
// loader's Sudoku gather.
func BenchmarkGather(b *testing.B) {
	const rows, n, batch, ahead = 800000, 81, 768, 16
	// Huge pages where the kernel grants them, as the loader's stores.
	src, err := syscall.Mmap(-1, 0, rows*2*n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		b.Skip("no anonymous mmap:", err)
	}
	defer syscall.Munmap(src)
	_ = syscall.Madvise(src, syscall.MADV_HUGEPAGE)
	for i := range src {
		src[i] = byte(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	idx := make([]int, batch*64)
	for i := range idx {
		idx[i] = rng.IntN(rows)
	}
	in, lab := make([]byte, batch*n), make([]byte, batch*n)
	gather := func(ix []int, hints bool) {
		for i, r := range ix {
			if hints && i+ahead < len(ix) {
				Range(unsafe.Pointer(&src[ix[i+ahead]*2*n]), 2*n)
			}
			copy(in[i*n:(i+1)*n], src[r*2*n:r*2*n+n])
			copy(lab[i*n:(i+1)*n], src[r*2*n+n:(r+1)*2*n])
		}
	}
	var plain, hinted time.Duration
	k := 0
	for b.Loop() {
		// Different rows for the two, so that neither finds the
		// other's in cache.
		a, c := k%32, 32+k%32
		k++
		t0 := time.Now()
		gather(idx[a*batch:(a+1)*batch], false)
		t1 := time.Now()
		gather(idx[c*batch:(c+1)*batch], true)
		plain += t1.Sub(t0)
		hinted += time.Since(t1)
	}
	b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N)/1e3, "plain-µs/batch")
	b.ReportMetric(float64(hinted.Nanoseconds())/float64(b.N)/1e3, "hinted-µs/batch")
	b.ReportMetric(float64(plain)/float64(hinted), "speedup")
}
