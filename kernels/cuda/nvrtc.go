package cuda

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// NVRTC is a loaded NVRTC library, the CUDA C++ compiler that runs inside
// the process. It needs no GPU: CI uses it to compile every kernel.
type NVRTC struct {
	lib          *library
	Major, Minor int

	create, destroy, compile, logSize, getLog uintptr
	ptxSize, getPTX, cubinSize, getCUBIN      uintptr
	numArchs, archs                           uintptr
	errorString                               func(code int32) string
}

// LoadNVRTC finds and opens NVRTC. maxMajor > 0 skips versions newer than
// the driver can run (code from NVRTC 13 does not load on a CUDA 12 driver).
func LoadNVRTC(maxMajor int) (*NVRTC, error) {
	return loadNVRTC(currentSearchEnv(), maxMajor)
}

func loadNVRTC(env searchEnv, maxMajor int) (*NVRTC, error) {
	cands := candidates(searchDirs(env), nvrtcSonames, maxMajor)
	// NVRTC loads libnvrtc-builtins at run time from the loader's search
	// path; in a wheel directory that is not on it, open it first.
	for _, c := range cands {
		if strings.ContainsRune(c.Path, '/') {
			preloadSiblings(filepath.Dir(c.Path), "libnvrtc-builtins.so.*")
			break
		}
	}
	lib, err := openLibrary("NVRTC (libnvrtc)", cands)
	if err != nil {
		return nil, err
	}
	n := &NVRTC{lib: lib}
	syms := []struct {
		p    *uintptr
		name string
	}{
		{&n.create, "nvrtcCreateProgram"}, {&n.destroy, "nvrtcDestroyProgram"},
		{&n.compile, "nvrtcCompileProgram"}, {&n.logSize, "nvrtcGetProgramLogSize"},
		{&n.getLog, "nvrtcGetProgramLog"}, {&n.ptxSize, "nvrtcGetPTXSize"}, {&n.getPTX, "nvrtcGetPTX"},
	}
	for _, s := range syms {
		if *s.p, err = lib.sym(s.name); err != nil {
			return nil, err
		}
	}
	// Added in CUDA 11.1 and 11.2: optional so that the error says what
	// is missing only when it is used.
	n.cubinSize = lib.optSym("nvrtcGetCUBINSize")
	n.getCUBIN = lib.optSym("nvrtcGetCUBIN")
	n.numArchs = lib.optSym("nvrtcGetNumSupportedArchs")
	n.archs = lib.optSym("nvrtcGetSupportedArchs")
	es, err := lib.sym("nvrtcGetErrorString")
	if err != nil {
		return nil, err
	}
	purego.RegisterFunc(&n.errorString, es)
	ver, err := lib.sym("nvrtcVersion")
	if err != nil {
		return nil, err
	}
	var major, minor int32
	if err := n.check("nvrtcVersion", call(ver, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor)))); err != nil {
		return nil, err
	}
	n.Major, n.Minor = int(major), int(minor)
	return n, nil
}

// Path is the file NVRTC was loaded from.
func (n *NVRTC) Path() string { return n.lib.Path }

// Version is NVRTC's version, e.g. "11.8".
func (n *NVRTC) Version() string { return fmt.Sprintf("%d.%d", n.Major, n.Minor) }

func (n *NVRTC) check(fn string, code int) error {
	if code == 0 {
		return nil
	}
	name := n.errorString(int32(code))
	if name == "" {
		name = fmt.Sprintf("NVRTC_ERROR_%d", code)
	}
	return &Error{Lib: "nvrtc", Func: fn, Code: code, Name: name}
}

// SupportedArchs lists the compute capabilities (80 for sm_80) this NVRTC
// can compile for.
func (n *NVRTC) SupportedArchs() ([]int, error) {
	if n.numArchs == 0 || n.archs == 0 {
		return nil, fmt.Errorf("NVRTC %s cannot list its architectures (needs 11.2+)", n.Version())
	}
	var cnt int32
	if err := n.check("nvrtcGetNumSupportedArchs", call(n.numArchs, uintptr(unsafe.Pointer(&cnt)))); err != nil {
		return nil, err
	}
	a := make([]int32, cnt)
	if cnt > 0 {
		if err := n.check("nvrtcGetSupportedArchs", call(n.archs, uintptr(unsafe.Pointer(&a[0])))); err != nil {
			return nil, err
		}
	}
	out := make([]int, cnt)
	for i, v := range a {
		out[i] = int(v)
	}
	return out, nil
}

// Target says what NVRTC produces: PTX for a virtual architecture
// (compute_90), which the driver compiles when it loads it, or a CUBIN for a
// real one (sm_90), which loads as is.
type Target struct {
	Arch  int  // compute capability times ten plus minor: 80, 86, 90
	CUBIN bool // machine code for sm_<Arch> instead of PTX for compute_<Arch>
}

func (t Target) String() string {
	if t.CUBIN {
		return fmt.Sprintf("sm_%d", t.Arch)
	}
	return fmt.Sprintf("compute_%d", t.Arch)
}

// compileOptions are the NVRTC flags every kernel is built with. No fast
// math: the kernels are checked against CPU references in fp32.
func compileOptions(t Target) []string {
	return []string{"--gpu-architecture=" + t.String(), "-default-device"}
}

// Compile compiles one CUDA C++ source. It returns the PTX or CUBIN and
// NVRTC's program log (warnings; empty for a clean build). A failed build
// returns an *Error whose Log holds the compiler's messages.
func (n *NVRTC) Compile(name, src string, t Target) (code []byte, log string, err error) {
	if t.CUBIN && (n.cubinSize == 0 || n.getCUBIN == 0) {
		return nil, "", fmt.Errorf("NVRTC %s cannot emit CUBIN (needs 11.1+)", n.Version())
	}
	csrc, cname := cString(src), cString(name)
	var prog uintptr
	if err := n.check("nvrtcCreateProgram", call(n.create, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&csrc[0])), uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0)); err != nil {
		return nil, "", err
	}
	defer call(n.destroy, uintptr(unsafe.Pointer(&prog)))

	opts := compileOptions(t)
	copts := make([][]byte, len(opts))
	ptrs := make([]*byte, len(opts))
	for i, o := range opts {
		copts[i] = cString(o)
		ptrs[i] = &copts[i][0]
	}
	cerr := n.check("nvrtcCompileProgram", call(n.compile, prog, uintptr(len(ptrs)), uintptr(unsafe.Pointer(&ptrs[0]))))
	runtime.KeepAlive(copts)
	runtime.KeepAlive(csrc)
	runtime.KeepAlive(cname)

	log, lerr := n.programLog(prog)
	if lerr != nil {
		return nil, "", lerr
	}
	if cerr != nil {
		if e, ok := cerr.(*Error); ok {
			e.Log = log
		}
		return nil, log, fmt.Errorf("compiling %s for %s: %w", name, t, cerr)
	}

	sizeFn, getFn, what := n.ptxSize, n.getPTX, "PTX"
	if t.CUBIN {
		sizeFn, getFn, what = n.cubinSize, n.getCUBIN, "CUBIN"
	}
	var size uintptr
	if err := n.check("nvrtcGet"+what+"Size", call(sizeFn, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return nil, log, err
	}
	buf := make([]byte, size)
	if size > 0 {
		if err := n.check("nvrtcGet"+what, call(getFn, prog, uintptr(unsafe.Pointer(&buf[0])))); err != nil {
			return nil, log, err
		}
	}
	if !t.CUBIN {
		buf = []byte(strings.TrimRight(string(buf), "\x00"))
	}
	return buf, log, nil
}

func (n *NVRTC) programLog(prog uintptr) (string, error) {
	var size uintptr
	if err := n.check("nvrtcGetProgramLogSize", call(n.logSize, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return "", err
	}
	if size <= 1 {
		return "", nil
	}
	buf := make([]byte, size)
	if err := n.check("nvrtcGetProgramLog", call(n.getLog, prog, uintptr(unsafe.Pointer(&buf[0])))); err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.TrimRight(string(buf), "\x00")), nil
}
