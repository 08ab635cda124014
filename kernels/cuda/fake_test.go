package cuda

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/tinyrecursion/trm/internal/fakecuda"
)

// buildFakeGPU builds internal/fakecuda's host-memory stand-in for
// libcuda.so.1, cuBLAS and cuBLASLt and points library discovery at it: the
// Go side of the backend then runs end to end without a GPU. With kernels,
// the embedded kernel sources are built for the host too, so that launches
// run them. TRM_CUDA_HEADERS, a CUDA toolkit's include directory, checks
// the fake's prototypes against NVIDIA's (fakecuda.Options.Headers). Each
// variant is built once per test binary (the kernels take seconds of g++)
// and removed by TestMain.
func buildFakeGPU(t *testing.T, kernels bool) {
	t.Helper()
	opts := fakecuda.Options{Headers: os.Getenv("TRM_CUDA_HEADERS")}
	if kernels {
		if _, err := LoadNVRTC(0); err != nil {
			t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2): %v", err)
		}
	}
	b := &fakeBuilds[0]
	if kernels {
		b = &fakeBuilds[1]
	}
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "trm-fakecuda-"); b.err != nil {
			return
		}
		if kernels {
			opts.Kernels = fakeSources(t)
		}
		b.err = fakecuda.Build(b.dir, opts)
	})
	if errors.Is(b.err, fakecuda.ErrNoCompiler) {
		t.Skip(b.err)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	if opts.Headers != "" {
		t.Logf("fake CUDA libraries checked against the headers in %s", opts.Headers)
	}
	t.Setenv("LD_LIBRARY_PATH", b.dir)
}

// fakeBuilds are the fake libraries without and with the kernels.
var fakeBuilds [2]struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := range fakeBuilds {
		if dir := fakeBuilds[i].dir; dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// fakeSources are the embedded kernel sources for fakecuda.
func fakeSources(t *testing.T) []fakecuda.Source {
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]fakecuda.Source, len(srcs))
	for i, s := range srcs {
		out[i] = fakecuda.Source{Name: s.Name, Code: s.Code, Kernels: s.Kernels}
	}
	return out
}

// openFakeGPU builds the fake libraries (buildFakeGPU) and opens a context
// on them.
func openFakeGPU(t *testing.T, kernels bool) *Context {
	t.Helper()
	buildFakeGPU(t, kernels)
	c, err := Open(Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	if dir := os.Getenv("LD_LIBRARY_PATH"); !strings.HasPrefix(c.drv.lib.Path, dir) {
		t.Fatalf("opened the driver at %s, not the fake in %s", c.drv.lib.Path, dir)
	}
	return c
}

func TestFakeGPUDevice(t *testing.T) {
	c := openFakeGPU(t, false)
	p := c.Props
	if p.Name != "trm fake GPU (host memory)" || p.Arch() != 90 || p.SMs != 132 || p.TotalMem != 16<<30 || c.DriverVersion != 12040 {
		t.Errorf("device as queried: %+v, driver %d", p, c.DriverVersion)
	}
	free, total, err := c.MemInfo()
	if err != nil || free != 8<<30 || total != 16<<30 {
		t.Errorf("MemInfo: %d free of %d, %v", free, total, err)
	}
}

// TestFakeGPUMath runs one product in each math mode: the fake rounds TF32
// and bf16 inputs as the tensor cores do, so each product must move away
// from the fp32 one by about its rounding (the compute type reached
// cuBLAS), bf16 more than TF32, yet stay within the check's tolerance.
func TestFakeGPUMath(t *testing.T) {
	h := newHarness(openFakeGPU(t, false), nil, 3)
	defer h.free()
	g := gemmCase{ab: F32, c: F32, transB: true, m: 64, n: 48, k: 256, alpha: 1}
	results := map[Math][]float32{}
	A, B := h.randn(g.m*g.k, F32, 1), h.randn(g.n*g.k, F32, 1)
	want := make([]float32, g.m*g.n)
	refGemm(g.args(), A, B, want, 0, g.m)
	modes := []Math{MathFP32, MathTF32, MathBF16}
	for _, m := range modes {
		g.math = m
		a := g.args()
		a.A, a.B, a.C = h.upload(A, F32), h.upload(B, F32), h.alloc(4*g.m*g.n)
		h.do(func() error { return h.c.Gemm(nil, a) })
		results[m] = h.download(a.C, g.m*g.n, F32)
	}
	if h.err != nil {
		t.Fatal(h.err)
	}
	tol := map[Math]float64{MathFP32: 1e-5, MathTF32: 2e-3, MathBF16: 1e-2}
	for i, m := range modes {
		atol, rtol := tolFor(F32, want, tol[m])
		if r := compare(results[m], want, atol, rtol); !r.OK() {
			t.Errorf("%v: %d of %d outside %g (max rel %.3g)", m, r.Bad, r.N, tol[m], r.MaxRel)
		}
		if i == 0 {
			continue
		}
		finer := modes[i-1]
		atol, rtol = tolFor(F32, want, tol[finer])
		if r := compare(results[m], want, atol, rtol); r.OK() {
			t.Errorf("the %v product is within %v's tolerance %g (max rel %.3g): its inputs were not rounded", m, finer, tol[finer], r.MaxRel)
		}
	}
}

func TestFakeGPUAllocatorReuses(t *testing.T) { allocatorReuses(t, openFakeGPU(t, false)) }

func TestFakeGPUPinnedRoundTrip(t *testing.T) { pinnedRoundTrip(t, openFakeGPU(t, false)) }

func TestFakeGPUUploader(t *testing.T) { uploaderCopies(t, openFakeGPU(t, false)) }

func TestFakeGPUErrorsCarryDriverNames(t *testing.T) {
	errorsCarryDriverNames(t, openFakeGPU(t, false))
}

// TestFakeGPUGemm runs every GEMM of `trm gpu check` through the fake
// cuBLAS, which computes cuBLAS's column-major products as documented and
// rejects leading dimensions cuBLAS would reject: a wrong operand swap,
// transpose flag, leading dimension or stride in the row-major mapping
// fails here.
func TestFakeGPUGemm(t *testing.T) {
	c := openFakeGPU(t, false)
	gemmMatchesReference(t, c)
	infos := c.Libraries()
	var blas bool
	for _, l := range infos {
		blas = blas || (l.Name == "cuBLAS" && strings.Contains(l.Version, "12.4"))
	}
	if !blas {
		t.Errorf("libraries after a GEMM: %+v, want cuBLAS 12.4", infos)
	}
}

// TestFakeGPUKernelReachesTheDriver: a kernel call compiles its source with
// NVRTC and hands the code to cuModuleLoadData, whose error (this fake was
// built without the emulated kernels) comes back named.
func TestFakeGPUKernelReachesTheDriver(t *testing.T) {
	if _, err := LoadNVRTC(0); err != nil {
		t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2): %v", err)
	}
	c := openFakeGPU(t, false)
	buf, err := c.Alloc(64)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(buf)
	err = c.Add(nil, F32, buf.Ptr, buf.Ptr, buf.Ptr, 16)
	var e *Error
	if !errors.As(err, &e) || e.Func != "cuModuleLoadData" || e.Name != "CUDA_ERROR_NOT_SUPPORTED" || !strings.Contains(err.Error(), "runs no kernels") {
		t.Fatalf("kernel on the fake driver: %v, want cuModuleLoadData failing with CUDA_ERROR_NOT_SUPPORTED", err)
	}
}

// TestFakeGPUCheck runs `trm gpu check` on the fake: the kernels cannot
// load, which skips only the kernel checks; the device, the allocator and
// every GEMM are still checked and reported, and the check fails at the end.
func TestFakeGPUCheck(t *testing.T) {
	if _, err := LoadNVRTC(0); err != nil {
		t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2): %v", err)
	}
	c := openFakeGPU(t, false)
	c.Close()
	var out bytes.Buffer
	err := Check(context.Background(), &out, CheckOptions{Seed: 1, NoBench: true, CacheDir: t.TempDir()})
	t.Log(out.String())
	if !errors.Is(err, errCheckFailed) || !strings.Contains(err.Error(), "1 checks failed") {
		t.Fatalf("Check on the fake: %v, want one failed check (the kernels)", err)
	}
	for _, want := range []string{"cuBLAS       12.4.5", "kernel checks are skipped", "CUDA_ERROR_NOT_SUPPORTED",
		"Device 0: trm fake GPU (host memory)", "compute capability 9.0, 132 SMs, 16.0 GiB", "Caching allocator",
		"GEMM against the CPU reference", "batched NN 8x97x64x97 bf16->bf16", "NT 640x384x512 f32->f32 bf16", "1 checks FAILED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "FAIL (") || strings.Contains(out.String(), "Kernels against the CPU reference") {
		t.Error("a GEMM failed, or kernel checks ran without kernels")
	}
}

// TestFakeGPUKernels runs every kernel check of `trm gpu check` with the
// kernels built for the host (buildFakeKernels): each embedded kernel, as
// the Go side launches it (grid, block, arguments), against its CPU
// reference within the check's tolerances. What it cannot show is the
// GPU's own arithmetic (contracted multiply-adds, its exp and log) and
// anything about speed; TestGPUKernelsMatchReference does on a GPU.
func TestFakeGPUKernels(t *testing.T) { kernelsMatchReference(t, openFakeGPU(t, true)) }

// TestKernelEmulator holds the emulator behind TestFakeGPUKernels to what a
// GPU does: warp shuffles exchange lanes, __syncthreads orders shared
// memory, shared memory starts each block as garbage (a fixed poison), and
// what would hang or fault on a GPU (a barrier some threads never reach, a
// full-warp shuffle after lanes returned, a block of 2048 threads) fails
// the launch instead of passing or hanging.
func TestKernelEmulator(t *testing.T) {
	dir := t.TempDir()
	err := fakecuda.BuildKernels(dir, "libtest.so", []fakecuda.Source{{Name: "emutest.cu", Code: `
extern "C" __global__ void shuffle(int* out) {
    out[blockIdx.x * blockDim.x + threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}
extern "C" __global__ void reverse(int* out) {
    __shared__ int s[64];
    s[threadIdx.x] = threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}
extern "C" __global__ void half_written(int* out) {
    __shared__ int s[64];
    if (threadIdx.x < 32) s[threadIdx.x] = 7;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void deadlock(int* out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
    else __syncthreads();
}
extern "C" __global__ void partial_warp(int* out) {
    if (threadIdx.x >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}`, Kernels: []string{"shuffle", "reverse", "half_written", "deadlock", "partial_warp"}}})
	if errors.Is(err, fakecuda.ErrNoCompiler) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := purego.Dlopen(filepath.Join(dir, "libtest.so"), purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int32, 256)
	launch := func(kernel string, grid, block [3]uint32) int {
		fn, err := purego.Dlsym(h, "emu_launch_"+kernel)
		if err != nil {
			t.Fatal(err)
		}
		clear(out)
		dims := [6]uint32{grid[0], grid[1], grid[2], block[0], block[1], block[2]}
		arg := uintptr(unsafe.Pointer(&out[0]))
		params := [1]uintptr{uintptr(unsafe.Pointer(&arg))}
		r := call(fn, uintptr(unsafe.Pointer(&dims[0])), 0, uintptr(unsafe.Pointer(&params[0])))
		runtime.KeepAlive(out)
		return r
	}
	const launchFailed, invalidValue = 719, 1
	want := func(kernel string, f func(i int) int32, n int) {
		t.Helper()
		for i := range n {
			if out[i] != f(i) {
				t.Fatalf("%s: out[%d] = %d, want %d", kernel, i, out[i], f(i))
			}
		}
	}
	if r := launch("shuffle", [3]uint32{2, 1, 1}, [3]uint32{64, 1, 1}); r != 0 {
		t.Fatalf("shuffle: launch returned %d", r)
	}
	want("shuffle", func(i int) int32 { return int32(i%64) ^ 1 }, 128)
	if r := launch("reverse", [3]uint32{1, 1, 1}, [3]uint32{64, 1, 1}); r != 0 {
		t.Fatalf("reverse: launch returned %d", r)
	}
	want("reverse", func(i int) int32 { return int32(63 - i) }, 64)
	// Shared memory no thread wrote reads as the poison (0xff bytes: -1),
	// in every block, not as zero or as what the previous block left.
	for range 2 {
		if r := launch("half_written", [3]uint32{2, 1, 1}, [3]uint32{64, 1, 1}); r != 0 {
			t.Fatalf("half_written: launch returned %d", r)
		}
		want("half_written", func(i int) int32 { return map[bool]int32{true: 7, false: -1}[i < 32] }, 64)
	}
	for _, c := range []struct {
		kernel      string
		grid, block [3]uint32
		code        int
	}{
		{"deadlock", [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, launchFailed},
		{"partial_warp", [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, launchFailed},
		{"shuffle", [3]uint32{1, 1, 1}, [3]uint32{2048, 1, 1}, invalidValue},
		{"shuffle", [3]uint32{1, 70000, 1}, [3]uint32{32, 1, 1}, invalidValue},
	} {
		if r := launch(c.kernel, c.grid, c.block); r != c.code {
			t.Errorf("%s with grid %v, block %v: launch returned %d, want %d", c.kernel, c.grid, c.block, r, c.code)
		}
	}
	// The fibers a deadlock left stuck start afresh for the next launch.
	if r := launch("shuffle", [3]uint32{2, 1, 1}, [3]uint32{64, 1, 1}); r != 0 {
		t.Fatalf("shuffle after the failed launches: launch returned %d", r)
	}
	want("shuffle after the failed launches", func(i int) int32 { return int32(i%64) ^ 1 }, 128)
}
