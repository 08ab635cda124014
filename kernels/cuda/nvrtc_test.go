package cuda

import (
	"errors"
	"regexp"
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
