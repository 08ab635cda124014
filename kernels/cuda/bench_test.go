package cuda

import (
	"testing"
	"time"
)

// GPU benchmarks; each skips without a GPU. Run on a GPU machine with
//   go test -run '^$' -bench GPU -benchtime 20x ./kernels/cuda
// (or the cross-built test binary: ./cuda.test -test.run '^$' -test.bench GPU).

func openBenchGPU(b *testing.B) *Context {
	b.Helper()
	c, err := Open(Options{CacheDir: b.TempDir()})
	if err != nil {
		b.Skipf("needs an NVIDIA GPU: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchGemmShape(b *testing.B, ab, cd DType, m, n, k int) {
	c := openBenchGPU(b)
	h := newHarness(c, nil, 3)
	defer h.free()
	a := GemmArgs{TransB: true, M: m, N: n, K: k, Alpha: 1, AB: ab, CType: cd, Lda: k, Ldb: k, Ldc: n}
	tile := h.randn(1<<22, ab, 1)
	a.A, a.B, a.C = fillTiled(h, tile, m*k, ab), fillTiled(h, tile, k*n, ab), h.alloc(m*n*cd.Size())
	if h.err != nil {
		b.Fatal(h.err)
	}
	if err := c.Gemm(nil, a); err != nil { // warm-up: cuBLAS picks its kernel
		b.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := c.Gemm(nil, a); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Synchronize(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/time.Since(start).Seconds()/1e12, "TFLOP/s")
}

func BenchmarkGPUGemmBF16_8192(b *testing.B) { benchGemmShape(b, BF16, BF16, 8192, 8192, 8192) }
func BenchmarkGPUGemmF32_8192(b *testing.B)  { benchGemmShape(b, F32, F32, 8192, 8192, 8192) }

// BenchmarkGPUGemmBF16_TRMGateUp is the gate/up projection of one ARC
// batch: (768*916) x 512 times 512 x 3072.
func BenchmarkGPUGemmBF16_TRMGateUp(b *testing.B) {
	benchGemmShape(b, BF16, BF16, TRMTokens, 3072, 512)
}

// BenchmarkGPULaunch measures one small kernel launch through the
// context's thread, the fixed cost every elementwise step pays.
func BenchmarkGPULaunch(b *testing.B) {
	c := openBenchGPU(b)
	buf, err := c.Alloc(4096)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Free(buf)
	if err := c.Add(nil, F32, buf.Ptr, buf.Ptr, buf.Ptr, 1024); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Add(nil, F32, buf.Ptr, buf.Ptr, buf.Ptr, 1024); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Synchronize(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGPUCopyPinnedH2D copies 64 MiB from pinned host memory.
func BenchmarkGPUCopyPinnedH2D(b *testing.B) {
	c := openBenchGPU(b)
	const size = 64 << 20
	pa := c.PinnedAllocator()
	host, err := pa.Alloc(size)
	if err != nil {
		b.Fatal(err)
	}
	defer pa.Free(host)
	d, err := c.Alloc(size)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Free(d)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.CopyHtoD(nil, d.Ptr, host); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Synchronize(); err != nil {
		b.Fatal(err)
	}
}
