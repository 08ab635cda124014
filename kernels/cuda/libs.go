package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// library is one shared object opened with dlopen.
type library struct {
	Name   string // what we asked for, e.g. "cublas"
	Path   string // the file that was opened (or the bare soname, when dlopen's own search found it)
	Soname string
	handle uintptr
}

// sym resolves a symbol, or returns an error naming the library.
func (l *library) sym(name string) (uintptr, error) {
	p, err := purego.Dlsym(l.handle, name)
	if err != nil {
		return 0, fmt.Errorf("%s (%s): symbol %s: %w", l.Name, l.Path, name, err)
	}
	return p, nil
}

// optSym resolves a symbol that older library versions lack; 0 when absent.
func (l *library) optSym(name string) uintptr {
	p, err := purego.Dlsym(l.handle, name)
	if err != nil {
		return 0
	}
	return p
}

// Sonames tried for each library, newest first. cuBLASLt has no list of its
// own: it is opened with cuBLAS's major version from cuBLAS's directory (see
// loadCublas). NVRTC 11.x kept the soname libnvrtc.so.11.2 for every 11.2+
// release.
var (
	cudaSonames   = []string{"libcuda.so.1", "libcuda.so"}
	cublasSonames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}
	nvrtcSonames  = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}
)

// sonameMajor is the CUDA major version a soname belongs to (13 for
// libcublas.so.13, 11 for libnvrtc.so.11.2), or 0 when it has none.
func sonameMajor(soname string) int {
	i := strings.Index(soname, ".so.")
	if i < 0 {
		return 0
	}
	v := soname[i+len(".so."):]
	if j := strings.IndexByte(v, '.'); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

// searchEnv is what library discovery reads from the environment, gathered
// in one place so that tests can describe a machine without touching it.
type searchEnv struct {
	LDLibraryPath string // LD_LIBRARY_PATH
	CUDAHome      string // CUDA_HOME or CUDA_PATH
	PythonPath    string // PYTHONPATH (wheels unpacked with pip --target)
	VirtualEnv    string // VIRTUAL_ENV
	Path          string // PATH: a python environment's bin/ on it points at its site-packages
	CondaPrefix   string // CONDA_PREFIX
	Home          string
	Root          string // prefix for the absolute system directories; "" in real use
}

func currentSearchEnv() searchEnv {
	home, _ := os.UserHomeDir()
	cudaHome := os.Getenv("CUDA_HOME")
	if cudaHome == "" {
		cudaHome = os.Getenv("CUDA_PATH")
	}
	return searchEnv{
		LDLibraryPath: os.Getenv("LD_LIBRARY_PATH"),
		CUDAHome:      cudaHome,
		PythonPath:    os.Getenv("PYTHONPATH"),
		VirtualEnv:    os.Getenv("VIRTUAL_ENV"),
		Path:          os.Getenv("PATH"),
		CondaPrefix:   os.Getenv("CONDA_PREFIX"),
		Home:          home,
	}
}

// globDirs expands patterns to existing directories, newest-looking first
// (so /usr/local/cuda-12.8 precedes /usr/local/cuda-12.4 and
// python3.12 precedes python3.10).
func globDirs(patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		sort.Slice(m, func(i, j int) bool { return versionLess(m[j], m[i]) })
		for _, d := range m {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				out = append(out, d)
			}
		}
	}
	return out
}

// versionLess orders strings with embedded numbers numerically
// (cuda-12.10 after cuda-12.9).
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// searchDirs lists the directories searched for CUDA libraries, in order:
// LD_LIBRARY_PATH, CUDA_HOME, the toolkit's usual install directories,
// Python wheel layouts (site-packages/nvidia/*/lib), then system library
// directories. dlopen's own search (ldconfig cache) comes after all of them.
func searchDirs(env searchEnv) []string {
	r := env.Root
	var dirs []string
	for _, d := range filepath.SplitList(env.LDLibraryPath) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if env.CUDAHome != "" {
		dirs = append(dirs, filepath.Join(env.CUDAHome, "lib64"), filepath.Join(env.CUDAHome, "lib"))
	}
	dirs = append(dirs, globDirs(
		r+"/usr/local/cuda/lib64",
		r+"/usr/local/cuda/targets/x86_64-linux/lib",
		r+"/usr/local/cuda-*/lib64",
		r+"/usr/local/cuda-*/targets/x86_64-linux/lib",
	)...)

	// Python environments: NVIDIA's wheels put each library in
	// site-packages/nvidia/<component>/lib (CUDA 13 wheels: nvidia/cu13/lib).
	var sites []string
	for _, d := range filepath.SplitList(env.PythonPath) {
		if d != "" {
			sites = append(sites, d)
		}
	}
	prefixes := []string{env.VirtualEnv, env.CondaPrefix}
	for _, d := range filepath.SplitList(env.Path) {
		if filepath.Base(d) == "bin" && d != "/usr/bin" && d != "/bin" && d != "/usr/local/bin" {
			prefixes = append(prefixes, filepath.Dir(d))
		}
	}
	for _, prefix := range prefixes {
		if prefix != "" {
			sites = append(sites, globDirs(prefix+"/lib/python3*/site-packages")...)
		}
	}
	if env.Home != "" {
		sites = append(sites, globDirs(env.Home+"/.local/lib/python3*/site-packages")...)
	}
	sites = append(sites, globDirs(
		r+"/usr/local/lib/python3*/dist-packages",
		r+"/usr/local/lib/python3*/site-packages",
		r+"/usr/lib/python3*/dist-packages",
		r+"/usr/lib/python3*/site-packages",
		r+"/opt/conda/lib/python3*/site-packages",
	)...)
	for _, s := range sites {
		dirs = append(dirs, globDirs(filepath.Join(s, "nvidia", "*", "lib"))...)
	}
	if env.CondaPrefix != "" {
		dirs = append(dirs, filepath.Join(env.CondaPrefix, "lib"))
	}

	dirs = append(dirs,
		r+"/usr/lib/x86_64-linux-gnu",
		r+"/usr/lib64",
		r+"/usr/local/nvidia/lib64",
		r+"/usr/lib/wsl/lib",
	)
	// Remove repeats, keeping the first position.
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		c := filepath.Clean(d)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// candidate is one file that library discovery will try to open.
type candidate struct {
	Path   string // full path, or a bare soname for dlopen's own search
	Soname string
}

// candidates lists, in search order, the files that could provide a
// library: every directory (outer loop, so LD_LIBRARY_PATH wins) times every
// soname whose CUDA major version is at most maxMajor (0: no limit), then
// the bare sonames for dlopen's own search.
func candidates(dirs, sonames []string, maxMajor int) []candidate {
	allowed := slices.DeleteFunc(slices.Clone(sonames), func(s string) bool {
		m := sonameMajor(s)
		return maxMajor > 0 && m > maxMajor && m > 1
	})
	var out []candidate
	for _, d := range dirs {
		for _, s := range allowed {
			p := filepath.Join(d, s)
			if _, err := os.Stat(p); err == nil {
				out = append(out, candidate{p, s})
			}
		}
	}
	for _, s := range allowed {
		out = append(out, candidate{s, s})
	}
	return out
}

// openLibrary opens the first candidate that dlopen accepts. The error lists
// every attempt, so a user can see where we looked and why each failed.
func openLibrary(name string, cands []candidate) (*library, error) {
	var tried []string
	for _, c := range cands {
		h, err := purego.Dlopen(c.Path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return &library{Name: name, Path: resolvedPath(c.Path), Soname: c.Soname, handle: h}, nil
		}
		tried = append(tried, fmt.Sprintf("  %s: %v", c.Path, err))
	}
	return nil, &NotFoundError{Name: name, Tried: tried}
}

// NotFoundError says that no candidate file of a library could be opened,
// and lists each attempt.
type NotFoundError struct {
	Name  string
	Tried []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found; tried:\n%s", e.Name, strings.Join(e.Tried, "\n"))
}

// resolvedPath follows symbolic links so the report shows the real file
// (libcublas.so.12 -> libcublas.so.12.4.5.8). A bare soname stays as is.
func resolvedPath(p string) string {
	if !strings.ContainsRune(p, '/') {
		return p
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// preloadSiblings opens libraries that a library found in dir needs and
// that the dynamic loader would not find on its own when dir is not on its
// search path (wheel layouts): libnvrtc-builtins beside libnvrtc, say.
func preloadSiblings(dir string, patterns ...string) {
	for _, pat := range patterns {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			_, _ = purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		}
	}
}

// call invokes a C function that takes only integer and pointer arguments
// and returns a 32-bit status (CUresult, cublasStatus_t, nvrtcResult).
//
// The directive below makes every uintptr(unsafe.Pointer(&x)) written in a
// call's argument list move x to the heap: without it x may live on the
// goroutine stack, which can be copied elsewhere (stack growth) between
// taking the address and the C function writing through it.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) int {
	r, _, _ := purego.SyscallN(fn, args...)
	return int(int32(r))
}

// cString returns a NUL-terminated copy of s for passing to C. The caller
// keeps the slice alive across the call.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
