package cuda

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// openFakeGPU builds testdata/fakecuda.c, a host-memory stand-in for
// libcuda.so.1, cuBLAS and cuBLASLt, points library discovery at it and
// opens a context on it: the Go side of the backend then runs end to end
// without a GPU. With TRM_CUDA_HEADERS naming a CUDA toolkit's include
// directory, the fake is first compiled against cuda.h, cublas_v2.h and
// cublasLt.h, so that the compiler checks its prototypes (and with them the
// argument order the tests hold the Go calls to) against NVIDIA's. That
// check is asked for rather than automatic because newer headers rename
// some entry points to _v2 forms by macro, which would compare the fake
// with functions the Go side does not call.
func openFakeGPU(t *testing.T) *Context {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: cannot build the fake CUDA libraries")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "libfakecuda.so")
	flags := []string{"-O2", "-shared", "-fPIC"} // no -Werror: a newer gcc's new warnings must not fail the tests
	if inc := os.Getenv("TRM_CUDA_HEADERS"); inc != "" {
		check := append(slices.Clone(flags), "-fsyntax-only",
			"-DTRM_REAL_HEADERS", "-I"+inc, "testdata/fakecuda.c")
		if out, err := exec.Command("gcc", check...).CombinedOutput(); err != nil {
			t.Fatalf("the fake's prototypes against %s: %v\n%s", inc, err, out)
		}
		t.Logf("fake CUDA libraries checked against the headers in %s", inc)
	}
	args := append(flags, "-o", lib, "testdata/fakecuda.c")
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, name := range []string{"libcuda.so.1", "libcublas.so.12", "libcublasLt.so.12"} {
		if err := os.Symlink(lib, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("LD_LIBRARY_PATH", dir)
	c, err := Open(Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	if !strings.HasPrefix(c.drv.lib.Path, dir) {
		t.Fatalf("opened the driver at %s, not the fake in %s", c.drv.lib.Path, dir)
	}
	return c
}

func TestFakeGPUDevice(t *testing.T) {
	c := openFakeGPU(t)
	p := c.Props
	if p.Name != "trm fake GPU (host memory)" || p.Arch() != 90 || p.SMs != 132 || p.TotalMem != 16<<30 || c.DriverVersion != 12040 {
		t.Errorf("device as queried: %+v, driver %d", p, c.DriverVersion)
	}
	free, total, err := c.MemInfo()
	if err != nil || free != 8<<30 || total != 16<<30 {
		t.Errorf("MemInfo: %d free of %d, %v", free, total, err)
	}
}

func TestFakeGPUAllocatorReuses(t *testing.T) { allocatorReuses(t, openFakeGPU(t)) }

func TestFakeGPUPinnedRoundTrip(t *testing.T) { pinnedRoundTrip(t, openFakeGPU(t)) }

func TestFakeGPUErrorsCarryDriverNames(t *testing.T) { errorsCarryDriverNames(t, openFakeGPU(t)) }

// TestFakeGPUGemm runs every GEMM of `trm gpu check` through the fake
// cuBLAS, which computes cuBLAS's column-major products as documented and
// rejects leading dimensions cuBLAS would reject: a wrong operand swap,
// transpose flag, leading dimension or stride in the row-major mapping
// fails here.
func TestFakeGPUGemm(t *testing.T) {
	c := openFakeGPU(t)
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
// NVRTC and hands the code to cuModuleLoadData, whose error (the fake runs
// no kernels) comes back named.
func TestFakeGPUKernelReachesTheDriver(t *testing.T) {
	if _, err := LoadNVRTC(0); err != nil {
		t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2): %v", err)
	}
	c := openFakeGPU(t)
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
	c := openFakeGPU(t)
	c.Close()
	var out bytes.Buffer
	err := Check(context.Background(), &out, CheckOptions{Seed: 1, NoBench: true, CacheDir: t.TempDir()})
	t.Log(out.String())
	if !errors.Is(err, errCheckFailed) || !strings.Contains(err.Error(), "1 checks failed") {
		t.Fatalf("Check on the fake: %v, want one failed check (the kernels)", err)
	}
	for _, want := range []string{"cuBLAS       12.4.5", "kernel checks are skipped", "CUDA_ERROR_NOT_SUPPORTED",
		"Device 0: trm fake GPU (host memory)", "compute capability 9.0, 132 SMs, 16.0 GiB", "Caching allocator",
		"GEMM against the CPU reference", "batched NN 8x97x64x97 bf16->bf16", "1 checks FAILED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "FAIL (") || strings.Contains(out.String(), "Kernels against the CPU reference") {
		t.Error("a GEMM failed, or kernel checks ran without kernels")
	}
}
