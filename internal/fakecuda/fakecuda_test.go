package fakecuda

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBuildWithoutCompilers: without gcc or g++ on PATH, Build and
// BuildKernels say so with ErrNoCompiler (callers skip), and write no
// library.
func TestBuildWithoutCompilers(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	if err := Build(dir, Options{}); !errors.Is(err, ErrNoCompiler) {
		t.Errorf("Build without gcc: %v, want ErrNoCompiler", err)
	}
	if err := BuildKernels(dir, "libk.so", []Source{{Name: "k.cu", Code: "", Kernels: []string{"k"}}}); !errors.Is(err, ErrNoCompiler) {
		t.Errorf("BuildKernels without g++: %v, want ErrNoCompiler", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
}

// TestBuildLayout: the fake is one library under the three names library
// discovery looks for, and the kernels' library lies beside it.
func TestBuildLayout(t *testing.T) {
	dir := t.TempDir()
	err := Build(dir, Options{Kernels: []Source{{Name: "one.cu", Code: `extern "C" __global__ void one(int* out) { out[threadIdx.x] = 1; }`, Kernels: []string{"one"}}}})
	if errors.Is(err, ErrNoCompiler) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	lib, err := filepath.EvalSymlinks(filepath.Join(dir, "libfakecuda.so"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"libcuda.so.1", "libcublas.so.12", "libcublasLt.so.12"} {
		if target, err := filepath.EvalSymlinks(filepath.Join(dir, name)); err != nil || target != lib {
			t.Errorf("%s -> %q, %v; want %s", name, target, err, lib)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "libfakekernels.so")); err != nil || st.Size() == 0 {
		t.Errorf("libfakekernels.so: %v", err)
	}
}
