package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCandidatesSearchOrder lays out a fake machine with cuBLAS in several
// places and checks the order discovery tries them in: LD_LIBRARY_PATH
// first, then CUDA_HOME, toolkit directories (newest first), Python wheels
// (VIRTUAL_ENV, environments whose bin/ is on PATH, ~/.local), system
// directories, and last the bare sonames for dlopen's own search.
func TestCandidatesSearchOrder(t *testing.T) {
	root := t.TempDir()
	ld := filepath.Join(root, "ld")
	home := filepath.Join(root, "home")
	venv := filepath.Join(root, "venv")
	files := []string{
		ld + "/libcublas.so.11",
		root + "/usr/local/cuda-12.4/lib64/libcublas.so.12",
		root + "/usr/local/cuda-12.10/lib64/libcublas.so.12",
		venv + "/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		root + "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		home + "/.local/lib/python3.11/site-packages/nvidia/cu13/lib/libcublas.so.13",
		root + "/usr/lib/x86_64-linux-gnu/libcublas.so.12",
	}
	for _, f := range files {
		touch(t, f)
	}
	env := searchEnv{LDLibraryPath: ld, VirtualEnv: venv, Home: home, Root: root,
		Path: "/usr/bin:" + root + "/opt/torch/.venv/bin"}
	var got []string
	for _, c := range candidates(searchDirs(env), cublasSonames, 0) {
		got = append(got, strings.TrimPrefix(c.Path, root))
	}
	want := []string{
		"/ld/libcublas.so.11",
		"/usr/local/cuda-12.10/lib64/libcublas.so.12",
		"/usr/local/cuda-12.4/lib64/libcublas.so.12",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"/home/.local/lib/python3.11/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"/usr/lib/x86_64-linux-gnu/libcublas.so.12",
		"libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
	}
	if !slices.Equal(got, want) {
		t.Errorf("search order:\n got %q\nwant %q", got, want)
	}

	// A CUDA 12 driver cannot run CUDA 13 libraries: they are not tried.
	got = got[:0]
	for _, c := range candidates(searchDirs(env), cublasSonames, 12) {
		if strings.Contains(c.Path, ".so.13") {
			got = append(got, c.Path)
		}
	}
	if len(got) != 0 {
		t.Errorf("driver 12 still tries %q", got)
	}
}

func TestSonameMajor(t *testing.T) {
	for s, want := range map[string]int{
		"libcublas.so.13": 13, "libnvrtc.so.11.2": 11, "libcuda.so.1": 1, "libcuda.so": 0, "libcublasLt.so.12": 12,
	} {
		if got := sonameMajor(s); got != want {
			t.Errorf("sonameMajor(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	in := []string{"cuda-12.9", "cuda-11.8", "cuda-12.10", "cuda-12.4", "python3.9", "python3.12"}
	slices.SortFunc(in, func(a, b string) int {
		if versionLess(a, b) {
			return -1
		}
		if versionLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"cuda-11.8", "cuda-12.4", "cuda-12.9", "cuda-12.10", "python3.9", "python3.12"}
	if !slices.Equal(in, want) {
		t.Errorf("got %v, want %v", in, want)
	}
}

// TestOpenLibraryReportsEveryAttempt checks that a failed search names
// each place tried, which is what a user needs to fix the install.
func TestOpenLibraryReportsEveryAttempt(t *testing.T) {
	dir := t.TempDir()
	bogus := filepath.Join(dir, "libcublas.so.12")
	if err := os.WriteFile(bogus, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := openLibrary("cuBLAS", []candidate{{bogus, "libcublas.so.12"}, {"libtrm-does-not-exist.so.1", "libtrm-does-not-exist.so.1"}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || len(nf.Tried) != 2 {
		t.Fatalf("want a NotFoundError listing 2 attempts, got %v", err)
	}
	for _, want := range []string{"cuBLAS not found", bogus, "libtrm-does-not-exist.so.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestErrorNames(t *testing.T) {
	b := &cublasAPI{}
	err := b.check("cublasGemmEx", 15)
	if err == nil || err.Error() != "cublasGemmEx: CUBLAS_STATUS_NOT_SUPPORTED (15)" {
		t.Errorf("got %v", err)
	}
	if b.check("cublasGemmEx", 0) != nil {
		t.Error("status 0 is an error")
	}
	if got := cublasStatusName(99); got != "CUBLAS_STATUS_99" {
		t.Errorf("unknown status named %q", got)
	}
}

// TestMemcpy2DLayout: the Go struct handed to cuMemcpy2DAsync_v2 has
// cuda.h's CUDA_MEMCPY2D layout (x86-64: size_t and pointers 8 bytes, the
// memory-type enums 4 bytes padded).
func TestMemcpy2DLayout(t *testing.T) {
	var m memcpy2D
	got := []uintptr{unsafe.Offsetof(m.srcMemoryType), unsafe.Offsetof(m.srcHost), unsafe.Offsetof(m.srcPitch),
		unsafe.Offsetof(m.dstMemoryType), unsafe.Offsetof(m.dstDevice), unsafe.Offsetof(m.widthInBytes), unsafe.Sizeof(m)}
	want := []uintptr{16, 24, 48, 72, 88, 112, 128}
	if !slices.Equal(got, want) {
		t.Errorf("memcpy2D offsets %v, want %v", got, want)
	}
}
