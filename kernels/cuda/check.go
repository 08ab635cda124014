package cuda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
)

// CheckOptions configure Check.
type CheckOptions struct {
	Device int
	Seed   uint64
	// Tokens is the row count of the TRM GEMM shapes; 0 means the ARC
	// training batch, 768 sequences x 916 positions.
	Tokens int
	// NoBench skips the timed parts (copy bandwidth, GEMM TFLOP/s).
	NoBench bool
	// CacheDir and NoCache are passed to Open.
	CacheDir string
	NoCache  bool
}

// TRMTokens is the token count of one ARC training batch: 768 sequences of
// 900 cells plus 16 puzzle-embedding positions.
const TRMTokens = 768 * 916

// Check verifies the CUDA backend on this machine and reports to w: the
// libraries and where they were found, the device, the caching allocator,
// pinned-copy bandwidth, every kernel against its CPU reference, GEMM in
// bf16 and fp32 against a CPU product, and GEMM throughput. Without a GPU
// it says what is missing and returns an error wrapping ErrNoGPU.
func Check(ctx context.Context, w io.Writer, opts CheckOptions) error {
	printf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	printf("trm gpu check (%s/%s, %d CPUs)\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	printf("Libraries\n")
	c, err := Open(Options{Device: opts.Device, CacheDir: opts.CacheDir, NoCache: opts.NoCache})
	if err != nil {
		reportLibrariesWithoutGPU(printf)
		if !errors.Is(err, ErrNoGPU) {
			return err
		}
		printf("\nNo usable NVIDIA GPU: %v\n", err)
		printf("This machine cannot run the CUDA backend; training uses the CPU backend.\n")
		printf("Needed: an NVIDIA GPU with its driver (libcuda.so.1), plus cuBLAS and NVRTC from CUDA 11.8 or later\n")
		printf("(a CUDA toolkit, the nvidia-cublas-cu12 / nvidia-cuda-nvrtc-cu12 Python wheels, or LD_LIBRARY_PATH).\n")
		return fmt.Errorf("%w (details above)", ErrNoGPU)
	}
	defer c.Close()
	blasErr := c.LoadBLAS()
	start := time.Now()
	kernelErr := c.LoadKernels()
	kernelTime := time.Since(start)
	for _, l := range c.Libraries() {
		printf("  %-12s %-8s %s\n", l.Name, l.Version, l.Path)
	}
	// A library that fails to load skips only the sections that need it,
	// so that one run on a new machine reports everything else as well.
	failed := 0
	if blasErr != nil {
		printf("\ncuBLAS could not be loaded (the GEMM sections are skipped): %v\n", blasErr)
		failed++
	}
	if kernelErr != nil {
		printf("\nThe kernels could not be built or loaded (the kernel checks are skipped): %v\n", kernelErr)
		failed++
	}

	p := c.Props
	printf("\nDevice %d: %s\n", p.Ordinal, p.Name)
	printf("  compute capability %d.%d, %d SMs, %.1f GiB, L2 %d MiB, shared/block %d KiB (opt-in %d KiB)\n",
		p.Major, p.Minor, p.SMs, float64(p.TotalMem)/(1<<30), p.L2Bytes>>20, p.SharedPerBlock>>10, p.SharedPerBlockOptin>>10)
	printf("  SM clock %d MHz, memory clock %d MHz, bus %d bits\n", p.ClockKHz/1000, p.MemClockKHz/1000, p.BusWidthBits)

	if kernelErr == nil {
		printf("\nKernels (%d modules in %.2fs)\n", len(c.KernelLog), kernelTime.Seconds())
		for _, l := range c.KernelLog {
			printf("  %s\n", l)
		}
	}

	s, err := c.NewStream()
	if err != nil {
		return err
	}
	defer s.Close()

	printf("\nCaching allocator\n")
	if err := checkAllocator(c, printf); err != nil {
		failed++
		printf("  FAIL: %v\n", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	if !opts.NoBench {
		printf("\nPinned host memory\n")
		if err := checkPinned(c, s, printf); err != nil {
			return fmt.Errorf("pinned copies: %w", err)
		}
	}

	h := newHarness(c, s, opts.Seed)
	if kernelErr == nil {
		printf("\nKernels against the CPU reference (random inputs, seed %d)\n", opts.Seed)
		n, err := runKernelChecks(h, printf)
		h.free()
		if err != nil {
			return err
		}
		failed += n
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	if blasErr == nil {
		printf("\nGEMM against the CPU reference (fp64 dot products)\n")
		n, err := runGemmChecks(h, printf)
		h.free()
		if err != nil {
			return err
		}
		failed += n

		if !opts.NoBench {
			tokens := opts.Tokens
			if tokens == 0 {
				tokens = TRMTokens
			}
			printf("\nGEMM throughput (cuBLAS, fp32 accumulation; events around 20 runs after 3 warm-ups)\n")
			if err := benchGemms(ctx, c, s, tokens, printf); err != nil {
				return err
			}
		}
	}

	st := c.AllocStats()
	printf("\nAllocator after the check: %d requests, %d reused, %d cuMemAlloc calls, peak %.1f MiB in use\n",
		st.Requests, st.Reused, st.DriverAllocs, float64(st.PeakInUse)/(1<<20))
	if failed > 0 {
		printf("\n%d checks FAILED\n", failed)
		return fmt.Errorf("%w: %d checks failed (details above)", errCheckFailed, failed)
	}
	printf("\nAll checks passed.\n")
	return nil
}

// reportLibrariesWithoutGPU says which libraries discovery finds even when
// the driver or the device is missing, so a user can tell what to install.
func reportLibrariesWithoutGPU(printf func(string, ...any)) {
	env := currentSearchEnv()
	if d, err := loadDriver(env); err == nil {
		printf("  %-12s %s\n", "CUDA driver", d.lib.Path)
	} else {
		printf("  %-12s not found\n", "CUDA driver")
	}
	if nv, err := loadNVRTC(env, 0); err == nil {
		printf("  %-12s %-8s %s\n", "NVRTC", nv.Version(), nv.Path())
	} else {
		printf("  %-12s not found\n", "NVRTC")
	}
	if b, err := loadCublas(env, 0); err == nil {
		printf("  %-12s %-8s %s\n", "cuBLAS", "", b.lib.Path)
	} else {
		printf("  %-12s not found\n", "cuBLAS")
	}
}

// checkAllocator allocates and frees the same sizes three times over and
// requires the second and third rounds to reuse every block.
func checkAllocator(c *Context, printf func(string, ...any)) error {
	sizes := []int{1 << 20, 3<<20 + 17, 700 << 10, 64 << 20, 4096, 4096}
	before := c.AllocStats()
	for round := 0; round < 3; round++ {
		var bufs []DeviceBuffer
		for _, n := range sizes {
			b, err := c.Alloc(n)
			if err != nil {
				return err
			}
			bufs = append(bufs, b)
		}
		for _, b := range bufs {
			c.Free(b)
		}
	}
	after := c.AllocStats()
	req, drv := after.Requests-before.Requests, after.DriverAllocs-before.DriverAllocs
	printf("  3 rounds of %d allocations: %d requests, %d cuMemAlloc calls, %d reused\n",
		len(sizes), req, drv, after.Reused-before.Reused)
	if drv > len(sizes) {
		return fmt.Errorf("rounds 2 and 3 called cuMemAlloc (%d calls for %d distinct blocks)", drv, len(sizes))
	}
	return nil
}

// checkPinned measures pinned host <-> device copy bandwidth on 256 MiB and
// verifies that the data survives the round trip.
func checkPinned(c *Context, s *Stream, printf func(string, ...any)) error {
	const size, reps = 256 << 20, 10
	pa := c.PinnedAllocator()
	host, err := pa.Alloc(size)
	if err != nil {
		return err
	}
	defer pa.Free(host)
	back, err := pa.Alloc(size)
	if err != nil {
		return err
	}
	defer pa.Free(back)
	for i := range host {
		host[i] = byte(i*7 + i>>11)
	}
	dev, err := c.Alloc(size)
	if err != nil {
		return err
	}
	defer c.Free(dev)
	t0, err := c.NewEvent()
	if err != nil {
		return err
	}
	defer t0.Close()
	t1, err := c.NewEvent()
	if err != nil {
		return err
	}
	defer t1.Close()
	timeit := func(copy func() error) (float64, error) {
		if err := copy(); err != nil { // warm-up
			return 0, err
		}
		if err := t0.Record(s); err != nil {
			return 0, err
		}
		for i := 0; i < reps; i++ {
			if err := copy(); err != nil {
				return 0, err
			}
		}
		if err := t1.Record(s); err != nil {
			return 0, err
		}
		if err := t1.Synchronize(); err != nil {
			return 0, err
		}
		ms, err := ElapsedMs(t0, t1)
		return float64(size) * reps / (ms / 1e3) / 1e9, err
	}
	h2d, err := timeit(func() error { return c.CopyHtoD(s, dev.Ptr, host) })
	if err != nil {
		return err
	}
	d2h, err := timeit(func() error { return c.CopyDtoH(s, back, dev.Ptr) })
	if err != nil {
		return err
	}
	if err := s.Synchronize(); err != nil {
		return err
	}
	same := bytes.Equal(host, back)
	printf("  H2D %.1f GB/s, D2H %.1f GB/s (256 MiB x %d, pinned; target H2D >= 20 GB/s); round trip identical: %v\n", h2d, d2h, reps, same)
	if !same {
		return errors.New("data changed in a host -> device -> host round trip")
	}
	return nil
}

// parallelRows runs f over [0, n) in chunks on every CPU.
func parallelRows(n int, f func(lo, hi int)) {
	workers := runtime.NumCPU()
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	wg.Wait()
}
