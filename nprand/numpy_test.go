package nprand

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

// Debian's python3 carries numpy; the python3 on PATH may not.
const numpyPython = "/usr/bin/python3"

// runNumpy runs a Python script that prints one JSON value and decodes it,
// skipping the test when numpy is not installed.
func runNumpy(t *testing.T, script string, out any) {
	t.Helper()
	if _, err := os.Stat(numpyPython); err != nil {
		t.Skipf("%s not found: numpy cross-check skipped", numpyPython)
	}
	if err := exec.Command(numpyPython, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s has no numpy: cross-check skipped", numpyPython)
	}
	cmd := exec.Command(numpyPython, "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("numpy script: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("numpy output: %v", err)
	}
}

// TestNumpyLegacyCrossCheck covers what the golden file does not: ranges
// above 2^32, long array keys, many twists, one interleaved call sequence.
func TestNumpyLegacyCrossCheck(t *testing.T) {
	const script = `
import json, numpy as np
out = {}
np.random.seed(123456789)
out["randint"] = [int(np.random.randint(lo, hi)) for lo, hi in
    [(0, 2**32), (0, 2**32 + 1), (-5, 2**40), (-2**63, 2**63 - 1), (7, 8), (3, 1000)] * 50]
out["sample"] = [float.hex(np.random.random_sample()) for _ in range(700)]
out["perm"] = [int(v) for v in np.random.permutation(3000)]
out["next"] = int(np.random.randint(0, 2**32, dtype=np.uint32))
key = np.arange(1000, dtype=np.uint32) * np.uint32(2654435761)
np.random.seed(key)
out["long_key"] = [int(v) for v in np.random.randint(0, 2**32, size=8, dtype=np.uint32)]
print(json.dumps(out))
`
	var want struct {
		Randint []int64  `json:"randint"`
		Sample  []string `json:"sample"`
		Perm    []int    `json:"perm"`
		Next    uint32   `json:"next"`
		LongKey []uint32 `json:"long_key"`
	}
	runNumpy(t, script, &want)

	r := New(123456789)
	ranges := [][2]int64{{0, 1 << 32}, {0, 1<<32 + 1}, {-5, 1 << 40}, {-1 << 63, 1<<63 - 1}, {7, 8}, {3, 1000}}
	for i, w := range want.Randint {
		rg := ranges[i%len(ranges)]
		if got := r.Randint(rg[0], rg[1]); got != w {
			t.Fatalf("randint call %d (%d, %d): %d, want %d", i, rg[0], rg[1], got, w)
		}
	}
	for i, w := range want.Sample {
		wantF, err := strconv.ParseFloat(w, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.RandomSample(); math.Float64bits(got) != math.Float64bits(wantF) {
			t.Fatalf("random_sample %d: %x, want %s", i, got, w)
		}
	}
	if got := r.Permutation(3000); !slices.Equal(got, want.Perm) {
		t.Fatal("permutation(3000) differs from numpy")
	}
	if got := r.Uint32(); got != want.Next {
		t.Fatalf("next raw draw %d, want %d", got, want.Next)
	}

	key := make([]uint32, 1000)
	for i := range key {
		key[i] = uint32(i) * 2654435761
	}
	lr, err := NewFromArray(key)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want.LongKey {
		if got := lr.Uint32(); got != w {
			t.Fatalf("1000-word key, draw %d: %d, want %d", i, got, w)
		}
	}
}

// TestNumpyGeneratorCrossCheck covers Generator.integers on 64-bit and
// full ranges and long permutations, interleaved on one stream.
func TestNumpyGeneratorCrossCheck(t *testing.T) {
	const script = `
import json, numpy as np
g = np.random.Generator(np.random.Philox(seed=2**40 + 17))
out = {}
out["ints"] = [int(g.integers(lo, hi)) for lo, hi in
    [(0, 2**32), (0, 2**32 + 1), (-5, 2**40), (-2**63, 2**63 - 1), (7, 8), (3, 1000), (0, 3)] * 50]
out["perm"] = [int(v) for v in g.permutation(5000)]
out["raw"] = int(g.bit_generator.random_raw())
print(json.dumps(out))
`
	var want struct {
		Ints []int64 `json:"ints"`
		Perm []int   `json:"perm"`
		Raw  uint64  `json:"raw"`
	}
	runNumpy(t, script, &want)

	g := NewGenerator(1<<40 + 17)
	ranges := [][2]int64{{0, 1 << 32}, {0, 1<<32 + 1}, {-5, 1 << 40}, {-1 << 63, 1<<63 - 1}, {7, 8}, {3, 1000}, {0, 3}}
	for i, w := range want.Ints {
		rg := ranges[i%len(ranges)]
		if got := g.Integers(rg[0], rg[1]); got != w {
			t.Fatalf("integers call %d (%d, %d): %d, want %d", i, rg[0], rg[1], got, w)
		}
	}
	if got := g.Permutation(5000); !slices.Equal(got, want.Perm) {
		t.Fatal("permutation(5000) differs from numpy")
	}
	// random_raw ignores a saved 32-bit half, as Uint64 does.
	if got := g.Uint64(); got != want.Raw {
		t.Fatalf("next raw %d, want %d", got, want.Raw)
	}
}
