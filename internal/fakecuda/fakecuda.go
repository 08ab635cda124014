// Package fakecuda builds, for tests, a stand-in for the NVIDIA driver and
// cuBLAS that runs on the host (csrc/fakecuda.c), and optionally the CUDA
// kernels themselves compiled for the host (csrc/emucuda.h and .cpp), so
// that kernels/cuda and `trm gpu check` run end to end on a machine without
// a GPU. It needs gcc, and g++ for the kernels.
//
// "Device" memory is host memory; GEMMs follow cuBLAS's documented
// column-major semantics and argument checks; kernels run one block at a
// time with every CUDA thread a fiber, so that __syncthreads and warp
// shuffles wait for real. What only a GPU shows: its own arithmetic, races
// between blocks that run at the same time, and every timing.
package fakecuda

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

var (
	//go:embed csrc/fakecuda.c
	fakeSource []byte
	//go:embed csrc/emucuda.h
	emuHeader []byte
	//go:embed csrc/emucuda.cpp
	emuRuntime []byte
)

// ErrNoCompiler is returned (wrapped) when gcc or g++ is missing: callers
// skip rather than fail.
var ErrNoCompiler = errors.New("fakecuda: no C compiler")

// Source is one kernel file as NVRTC gets it (kernels/cuda.Source).
type Source struct {
	Name    string   // file name, e.g. "swiglu.cu"
	Code    string   // the prelude and the file
	Kernels []string // its extern "C" __global__ entry points
}

// Options configure Build.
type Options struct {
	// Kernels are compiled for the host into libfakekernels.so beside the
	// fake driver, whose cuModuleGetFunction looks for them there; with
	// none, loading a module fails with CUDA_ERROR_NOT_SUPPORTED.
	Kernels []Source
	// Headers, a CUDA toolkit's include directory, first compiles the fake
	// against cuda.h, cublas_v2.h and cublasLt.h, so that the compiler
	// checks its prototypes (and with them the argument order the Go side
	// is held to) against NVIDIA's. Asked for rather than automatic: newer
	// headers rename some entry points to _v2 forms by macro, which would
	// compare the fake with functions the Go side does not call.
	Headers string
}

// Build writes the fake driver into dir as libcuda.so.1, libcublas.so.12
// and libcublasLt.so.12 (one library under three names): point library
// discovery at dir with LD_LIBRARY_PATH.
func Build(dir string, opts Options) error {
	if _, err := exec.LookPath("gcc"); err != nil {
		return fmt.Errorf("%w: gcc not found, cannot build the fake CUDA libraries", ErrNoCompiler)
	}
	if len(opts.Kernels) > 0 {
		if err := BuildKernels(dir, "libfakekernels.so", opts.Kernels); err != nil {
			return err
		}
	}
	src := filepath.Join(dir, "fakecuda.c")
	if err := os.WriteFile(src, fakeSource, 0o644); err != nil {
		return err
	}
	flags := []string{"-O2", "-shared", "-fPIC"} // no -Werror: a newer gcc's new warnings must not fail the tests
	if opts.Headers != "" {
		if err := compile("gcc", slices.Concat(flags, []string{"-fsyntax-only", "-DTRM_REAL_HEADERS", "-I" + opts.Headers, src})...); err != nil {
			return fmt.Errorf("the fake's prototypes against %s: %w", opts.Headers, err)
		}
	}
	lib := filepath.Join(dir, "libfakecuda.so")
	if err := compile("gcc", slices.Concat(flags, []string{"-o", lib, src, "-ldl"})...); err != nil {
		return err
	}
	for _, name := range []string{"libcuda.so.1", "libcublas.so.12", "libcublasLt.so.12"} {
		if err := os.Symlink(lib, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// BuildKernels compiles kernel sources, exactly as NVRTC gets them, with
// g++ and emucuda.h (CUDA C's constructs mapped onto host fibers) into
// dir/lib, which exports emu_launch_<kernel> for each kernel: a function of
// (grid and block dimensions, dynamic shared bytes, cuLaunchKernel's
// parameter array) returning a CUresult.
func BuildKernels(dir, lib string, srcs []Source) error {
	if _, err := exec.LookPath("g++"); err != nil {
		return fmt.Errorf("%w: g++ not found, cannot build the emulated kernels", ErrNoCompiler)
	}
	if err := os.WriteFile(filepath.Join(dir, "emucuda.h"), emuHeader, 0o644); err != nil {
		return err
	}
	files := []string{filepath.Join(dir, "emucuda.cpp")}
	if err := os.WriteFile(files[0], emuRuntime, 0o644); err != nil {
		return err
	}
	for _, s := range srcs {
		var b strings.Builder
		// The prelude's helpers are in every file: an unnamed namespace
		// keeps each file's copies to itself.
		b.WriteString("#include \"emucuda.h\"\nnamespace {\n")
		b.WriteString(s.Code)
		b.WriteString("\n} // namespace\n")
		for _, k := range s.Kernels {
			fmt.Fprintf(&b, "EMU_KERNEL(%s)\n", k)
		}
		path := filepath.Join(dir, "kernel-"+strings.TrimSuffix(s.Name, ".cu")+".cpp")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return err
		}
		files = append(files, path)
	}
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	objs := make([]string, len(files))
	for i, f := range files {
		objs[i] = strings.TrimSuffix(f, ".cpp") + ".o"
		g.Go(func() error { return compile("g++", "-std=c++17", "-O2", "-fPIC", "-c", "-I", dir, "-o", objs[i], f) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return compile("g++", append([]string{"-shared", "-o", filepath.Join(dir, lib)}, objs...)...)
}

func compile(cc string, args ...string) error {
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return nil
}
