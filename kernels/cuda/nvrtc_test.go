package cuda

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// loadTestNVRTC opens NVRTC. It skips only when no NVRTC library exists at
// all (CI installs Debian's libnvrtc11.2, so a skip there means the install
// step failed); a library that is found but unusable fails the test.
func loadTestNVRTC(t *testing.T) *NVRTC {
	t.Helper()
	n, err := LoadNVRTC(0)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		t.Skipf("no NVRTC library found (install Debian's libnvrtc11.2 or a CUDA toolkit): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NVRTC %s from %s", n.Version(), n.Path())
	return n
}

// TestNVRTCCompilesEveryKernel compiles each embedded kernel file to PTX
// for the A100 (compute_80) and Hopper (compute_90) targets and requires a
// clean build: no error, no warning in the program log, and every
// extern "C" kernel present as a PTX entry.
func TestNVRTCCompilesEveryKernel(t *testing.T) {
	n := loadTestNVRTC(t)
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, arch := range []int{80, 90} {
		for _, s := range srcs {
			ptx, log, err := n.Compile(s.Name, s.Code, Target{Arch: arch})
			if err != nil {
				t.Errorf("%s compute_%d: %v", s.Name, arch, err)
				continue
			}
			if log != "" {
				t.Errorf("%s compute_%d: compiler log is not empty:\n%s", s.Name, arch, log)
			}
			target := regexp.MustCompile(`(?m)^\.target\s+sm_(\d+)`).FindStringSubmatch(string(ptx))
			if target == nil || target[1] != strconv.Itoa(arch) {
				t.Errorf("%s compute_%d: PTX .target is %v", s.Name, arch, target)
			}
			for _, k := range s.Kernels {
				if !strings.Contains(string(ptx), ".entry "+k+"(") {
					t.Errorf("%s compute_%d: PTX lacks entry %s", s.Name, arch, k)
				}
				total++
			}
		}
	}
	t.Logf("compiled %d files, %d kernel entries over 2 architectures", len(srcs), total)
}

// TestNVRTCBuildsCUBIN builds machine code for sm_90 as LoadKernels does on
// a Hopper GPU whose NVRTC knows the architecture: every file at once,
// through the disk cache (NVRTC's own ptxas runs, so register or resource
// errors would show here); a second pass must come from the cache.
func TestNVRTCBuildsCUBIN(t *testing.T) {
	n := loadTestNVRTC(t)
	archs, err := n.SupportedArchs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(archs, 90) {
		t.Skipf("NVRTC %s does not know sm_90 (knows %v)", n.Version(), archs)
	}
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tgt := Target{Arch: 90, CUBIN: true}
	built, err := compileAll(n, dir, srcs, tgt, 13000)
	if err != nil {
		t.Fatal(err)
	}
	again, err := compileAll(n, dir, srcs, tgt, 13000)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range built {
		if !bytes.HasPrefix(b.code, []byte("\x7fELF")) {
			t.Errorf("%s: CUBIN is not an ELF file", srcs[i].Name)
		}
		if want := "NVRTC -> " + filepath.Join(dir, cacheKey(srcs[i], n, tgt, 13000)); b.from != want {
			t.Errorf("%s: built from %q, want %q (a warning?)", srcs[i].Name, b.from, want)
		}
		if again[i].from != strings.TrimPrefix(b.from, "NVRTC -> ") || !bytes.Equal(again[i].code, b.code) {
			t.Errorf("%s: second pass from %q", srcs[i].Name, again[i].from)
		}
	}
}

// TestNVRTCCompileErrorCarriesNameAndLog checks that a broken kernel becomes
// a Go error with NVRTC's status name and the compiler's message.
func TestNVRTCCompileErrorCarriesNameAndLog(t *testing.T) {
	n := loadTestNVRTC(t)
	_, _, err := n.Compile("broken.cu", `extern "C" __global__ void k(float* x) { x[0] = undefined_name; }`, Target{Arch: 80})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Name != "NVRTC_ERROR_COMPILATION" || e.Lib != "nvrtc" {
		t.Errorf("error name %q lib %q, want NVRTC_ERROR_COMPILATION nvrtc", e.Name, e.Lib)
	}
	if !strings.Contains(e.Log, "undefined_name") || !strings.Contains(e.Log, "broken.cu") {
		t.Errorf("log does not point at the error:\n%s", e.Log)
	}
}
