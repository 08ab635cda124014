package cuda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// openTestGPU opens device 0 or skips the test, saying why.
func openTestGPU(t *testing.T) *Context {
	t.Helper()
	c, err := Open(Options{CacheDir: t.TempDir()})
	if errors.Is(err, ErrNoGPU) {
		t.Skipf("needs an NVIDIA GPU: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// TestCheckWithoutGPU runs `trm gpu check`'s logic on a machine without a
// GPU: it must say what is missing and fail with ErrNoGPU.
func TestCheckWithoutGPU(t *testing.T) {
	if _, err := loadDriver(currentSearchEnv()); err == nil {
		t.Skip("this machine has a CUDA driver; TestGPUCheck covers it")
	}
	var out bytes.Buffer
	err := Check(context.Background(), &out, CheckOptions{})
	if !errors.Is(err, ErrNoGPU) {
		t.Fatalf("Check without a GPU returned %v, want ErrNoGPU", err)
	}
	for _, want := range []string{"No usable NVIDIA GPU", "libcuda.so.1", "CUDA driver  not found", "NVRTC"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestGPUKernelsMatchReference(t *testing.T) { kernelsMatchReference(t, openTestGPU(t)) }

// kernelsMatchReference runs every kernel check of `trm gpu check` on c and
// fails the test if an output is outside its tolerance or a kernel is left
// unchecked.
func kernelsMatchReference(t *testing.T, c *Context) {
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := newHarness(c, s, 1)
	defer h.free()
	var log strings.Builder
	failed, err := runKernelChecks(h, func(format string, args ...any) { fmt.Fprintf(&log, format, args...) })
	t.Log("\n" + log.String())
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%d kernel outputs outside tolerance (see log)", failed)
	}
	if n := strings.Count(log.String(), " ok\n"); n < 40 {
		t.Errorf("%d kernel outputs checked, want every kernel's", n)
	}
}

func TestGPUGemmMatchesReference(t *testing.T) { gemmMatchesReference(t, openTestGPU(t)) }

// gemmMatchesReference runs every GEMM of the check against the CPU.
func gemmMatchesReference(t *testing.T, c *Context) {
	h := newHarness(c, nil, 2)
	defer h.free()
	failed, err := runGemmChecks(h, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%d GEMMs outside tolerance (see log)", failed)
	}
}

func TestGPUAllocatorReuses(t *testing.T) { allocatorReuses(t, openTestGPU(t)) }

// allocatorReuses: freed buffers are reused, and EmptyCache returns them.
func allocatorReuses(t *testing.T, c *Context) {
	if err := checkAllocator(c, t.Logf); err != nil {
		t.Error(err)
	}
	st := c.AllocStats()
	if st.InUse != 0 || st.Cached == 0 {
		t.Errorf("after freeing everything: %+v", st)
	}
	if err := c.EmptyCache(); err != nil {
		t.Fatal(err)
	}
	if st := c.AllocStats(); st.Cached != 0 {
		t.Errorf("EmptyCache left %d bytes cached", st.Cached)
	}
}

func TestGPUPinnedAllocator(t *testing.T) { pinnedRoundTrip(t, openTestGPU(t)) }

// pinnedRoundTrip copies pinned host memory to the device and back.
func pinnedRoundTrip(t *testing.T, c *Context) {
	var a Allocator = c.PinnedAllocator()
	b, err := a.Alloc(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = byte(i * 31)
	}
	d, err := c.Alloc(len(b))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(d)
	back := make([]byte, len(b))
	if err := c.CopyHtoD(nil, d.Ptr, b); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyDtoH(nil, back, d.Ptr); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, back) {
		t.Error("round trip through the device changed the data")
	}
	if err := a.Free(b); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(b); err == nil {
		t.Error("double Free not reported")
	}
}

func TestGPUUploader(t *testing.T) { uploaderCopies(t, openTestGPU(t)) }

// uploaderCopies: each Upload lands on the device whole, the buffer growing
// for a larger batch and reused for a smaller one.
func uploaderCopies(t *testing.T, c *Context) {
	u, err := c.NewUploader()
	if err != nil {
		t.Fatal(err)
	}
	pinned := c.PinnedAllocator()
	var grownTo DeviceBuffer
	for i, n := range []int{1000, 5000, 3000} {
		b, err := pinned.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		for j := range b {
			b[j] = byte(j*7 + i)
		}
		if err := u.Upload(b); err != nil {
			t.Fatal(err)
		}
		back := make([]byte, n)
		if err := c.CopyDtoH(nil, back, u.Device().Ptr); err != nil {
			t.Fatal(err)
		}
		if err := c.Synchronize(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("upload %d (%d bytes) differs on the device", i, n)
		}
		if err := pinned.Free(b); err != nil {
			t.Fatal(err)
		}
		switch {
		case n == 5000:
			grownTo = u.Device()
		case n == 3000 && u.Device() != grownTo:
			t.Errorf("a smaller upload moved to a new device buffer: %+v, was %+v", u.Device(), grownTo)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGPUErrorsCarryDriverNames(t *testing.T) { errorsCarryDriverNames(t, openTestGPU(t)) }

// errorsCarryDriverNames provokes a driver error and checks its name.
func errorsCarryDriverNames(t *testing.T, c *Context) {
	_, err := c.Alloc(1 << 62)
	var e *Error
	if !errors.As(err, &e) || (e.Name != "CUDA_ERROR_OUT_OF_MEMORY" && e.Name != "CUDA_ERROR_INVALID_VALUE") || e.Func != "cuMemAlloc_v2" {
		t.Errorf("huge allocation: %v, want cuMemAlloc_v2 failing with CUDA_ERROR_OUT_OF_MEMORY or _INVALID_VALUE", err)
	}
}

func TestGPUCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("the full GPU check takes tens of seconds")
	}
	c := openTestGPU(t)
	c.Close()
	var out bytes.Buffer
	err := Check(context.Background(), &out, CheckOptions{Seed: 1, Tokens: 4096, CacheDir: t.TempDir()})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
}

// TestHeapAllocator: the Allocator used without a GPU.
func TestHeapAllocator(t *testing.T) {
	var a Allocator = HeapAllocator{}
	b, err := a.Alloc(100)
	if err != nil || len(b) != 100 {
		t.Fatalf("Alloc: %d bytes, %v", len(b), err)
	}
	if err := a.Free(b); err != nil {
		t.Fatal(err)
	}
	if v := View[float32](b[:10]); len(v) != 2 {
		t.Errorf("View of 10 bytes as float32: %d values", len(v))
	}
}
