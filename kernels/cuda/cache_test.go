package cuda

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelCache compiles one kernel file through the disk cache twice:
// the first call runs NVRTC and writes the file, the second reads it back
// unchanged. The key changes with the target and the driver version.
func TestKernelCache(t *testing.T) {
	nv := loadTestNVRTC(t)
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	src := srcs[0]
	dir := t.TempDir()
	tgt := Target{Arch: 80}
	code1, from1, err := compileCached(nv, dir, src, tgt, 12040)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(from1, "NVRTC -> "+dir) {
		t.Fatalf("first compile came from %q", from1)
	}
	code2, from2, err := compileCached(nv, dir, src, tgt, 12040)
	if err != nil {
		t.Fatal(err)
	}
	if from2 != strings.TrimPrefix(from1, "NVRTC -> ") || string(code1) != string(code2) {
		t.Fatalf("second compile came from %q (first wrote %q), same code: %v", from2, from1, string(code1) == string(code2))
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache dir holds %v (%v), want one file", entries, err)
	}
	keys := map[string]bool{}
	for _, k := range []string{
		cacheKey(src, nv, tgt, 12040),
		cacheKey(src, nv, Target{Arch: 90}, 12040),
		cacheKey(src, nv, Target{Arch: 80, CUBIN: true}, 12040),
		cacheKey(src, nv, tgt, 12080),
		cacheKey(srcs[1], nv, tgt, 12040),
	} {
		keys[k] = true
	}
	if len(keys) != 5 {
		t.Errorf("cache keys collide: %v", keys)
	}
	if filepath.Base(from2) != cacheKey(src, nv, tgt, 12040) {
		t.Errorf("cache file %s is not named by its key", from2)
	}
}

func TestSourcesListKernels(t *testing.T) {
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range srcs {
		if !strings.HasPrefix(s.Code, "#line 1 \"common.cuh\"") || !strings.Contains(s.Code, "#line 1 \""+s.Name+"\"") {
			t.Errorf("%s: prelude or #line directive missing", s.Name)
		}
		if strings.Contains(s.Code, "#include") {
			t.Errorf("%s: includes a header; NVRTC has no toolkit headers", s.Name)
		}
		for _, k := range s.Kernels {
			if prev, ok := seen[k]; ok {
				t.Errorf("kernel %s defined in %s and %s", k, prev, s.Name)
			}
			seen[k] = s.Name
		}
	}
	// Every kernel the Go wrappers launch must exist.
	for _, k := range []string{"add_f32", "add_bf16", "swiglu_bwd_bf16", "rmsnorm_fwd_f32", "rope_bwd_bf16",
		"stablemax_xent_bf16", "embedding_bwd_f32", "adam_atan2_f32", "sparse_signsgd_f32", "ema_f32",
		"sum_partial_f64", "sum_rows_bf16", "cast_f32_bf16", "transpose_bf16", "argmax_f32", "softmax_bwd_f32"} {
		if _, ok := seen[k]; !ok {
			t.Errorf("no kernel %s", k)
		}
	}
}
