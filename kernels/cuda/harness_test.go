package cuda

import (
	"errors"
	"testing"
)

// TestHarnessStopsAtFirstError checks the harness's error handling without
// a GPU: after a failed step, allocations, copies and launches must not
// reach the (here absent) context, results must report the first error,
// and free must clear it for the next check.
func TestHarnessStopsAtFirstError(t *testing.T) {
	h := newHarness(nil, nil, 1) // any call into the context would panic
	first := errors.New("first")
	h.do(func() error { return first })
	h.do(func() error { t.Error("a step ran after a failure"); return nil })
	p := h.upload(h.randn(8, BF16, 1), BF16)
	q := uploadRaw(h, []int32{1, 2})
	out := h.alloc(64)
	if p != 0 || q != 0 || out != 0 {
		t.Errorf("pointers after a failure: %v %v %v", p, q, out)
	}
	got := h.download(out, 4, BF16)
	if len(got) != 4 || len(h.downloadF64(out, 2)) != 2 || len(h.downloadInt32(out, 3)) != 3 {
		t.Errorf("downloads after a failure have the wrong lengths: %v", got)
	}
	res, err := h.results(exact(h, "out", F32, out, []float32{1}))
	if err != first || res != nil {
		t.Errorf("results = %v, %v; want nil, %v", res, err, first)
	}
	h.free()
	if h.err != nil {
		t.Errorf("free kept the error %v", h.err)
	}
	ran := false
	h.do(func() error { ran = true; return nil })
	if res, err := h.results(namedComparison{what: "x"}); !ran || err != nil || len(res) != 1 {
		t.Errorf("after free: ran %v, results %v, %v", ran, res, err)
	}
}
