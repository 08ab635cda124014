package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/internal/npygolden"
)

// npyEncodeGolden writes a golden array with WriteNPY in its dtype.
func npyEncodeGolden(t *testing.T, a npygolden.Array) []byte {
	t.Helper()
	vals, err := a.Ints()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	switch a.Dtype {
	case "uint8":
		err = WriteNPY(&buf, a.Shape, npygolden.Convert[uint8](vals))
	case "int32":
		err = WriteNPY(&buf, a.Shape, npygolden.Convert[int32](vals))
	case "int64":
		err = WriteNPY(&buf, a.Shape, vals)
	default:
		t.Fatalf("golden dtype %q", a.Dtype)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNPYGoldenSudokuMaze rebuilds every array of the reference Sudoku and
// Maze builds from its values and compares the sha256 of the whole file
// with the one numpy's np.save produced; then reads it back.
func TestNPYGoldenSudokuMaze(t *testing.T) {
	raw, err := os.ReadFile("testdata/sudoku-maze-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Runs map[string]struct {
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for run, r := range golden.Runs {
		for split, files := range r.Outputs {
			var entries map[string]json.RawMessage
			if json.Unmarshal(files, &entries) != nil {
				continue // identifiers.json text
			}
			for name, e := range entries {
				if !strings.HasSuffix(name, ".npy") {
					continue
				}
				var a npygolden.Array
				if err := json.Unmarshal(e, &a); err != nil {
					t.Fatal(err)
				}
				where := run + "/" + split + "/" + name
				file := npyEncodeGolden(t, a)
				sum := sha256.Sum256(file)
				if got := hex.EncodeToString(sum[:]); got != a.SHA256 {
					t.Errorf("%s: sha256 %s, want %s\nheader: %q", where, got, a.SHA256, file[:min(len(file), 128)])
				}
				h, payload, err := ReadNPYFrom(where, bytes.NewReader(file))
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if !slices.Equal(h.Shape, a.Shape) {
					t.Errorf("%s: read shape %v, want %v", where, h.Shape, a.Shape)
				}
				if again := npyReencode(t, h, payload); !bytes.Equal(again, file) {
					t.Errorf("%s: read-back values differ", where)
				}
				checked[a.Dtype]++
			}
		}
	}
	// All three dtypes must have been exercised.
	for _, d := range []string{"uint8", "int32", "int64"} {
		if checked[d] == 0 {
			t.Errorf("no golden %s array checked", d)
		}
	}
}

// npyReencode decodes a payload with DecodeNPY and re-encodes it.
func npyReencode(t *testing.T, h NPYHeader, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch h.Descr {
	case NPYUint8:
		err = npyDecodeAndWrite[uint8](&buf, h, payload)
	case NPYInt32:
		err = npyDecodeAndWrite[int32](&buf, h, payload)
	case NPYInt64:
		err = npyDecodeAndWrite[int64](&buf, h, payload)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func npyDecodeAndWrite[T NPYElement](w io.Writer, h NPYHeader, payload []byte) error {
	vals, err := DecodeNPY[T](h, payload)
	if err != nil {
		return err
	}
	return WriteNPY(w, h.Shape, vals)
}

// TestNPYHeaderLayout checks the properties spec/reference-data.md 1.2
// states for every header np.save writes.
func TestNPYHeaderLayout(t *testing.T) {
	for _, c := range []struct {
		h    NPYHeader
		dict string
	}{
		{NPYHeader{NPYUint8, []int{688, 900}}, "{'descr': '|u1', 'fortran_order': False, 'shape': (688, 900), }"},
		{NPYHeader{NPYInt32, []int{121}}, "{'descr': '<i4', 'fortran_order': False, 'shape': (121,), }"},
		{NPYHeader{NPYInt64, []int{9, 81}}, "{'descr': '<i8', 'fortran_order': False, 'shape': (9, 81), }"},
		{NPYHeader{NPYInt32, []int{}}, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }"},
	} {
		hdr, err := EncodeNPYHeader(c.h)
		if err != nil {
			t.Fatal(err)
		}
		if len(hdr)%64 != 0 || !bytes.HasPrefix(hdr, []byte("\x93NUMPY\x01\x00")) || hdr[len(hdr)-1] != '\n' {
			t.Errorf("%v: header %q is not a 64-aligned version 1.0 header ending in newline", c.h, hdr)
		}
		if hl := int(hdr[8]) | int(hdr[9])<<8; hl != len(hdr)-10 {
			t.Errorf("%v: header length field %d, want %d", c.h, hl, len(hdr)-10)
		}
		if got := strings.TrimRight(string(hdr[10:]), " \n"); got != c.dict {
			t.Errorf("%v: dict %q, want %q", c.h, got, c.dict)
		}
	}
	for _, bad := range []NPYHeader{{"<f4", []int{3}}, {NPYInt32, []int{-1}}, {NPYInt64, []int{1 << 62, 4}}} {
		if _, err := EncodeNPYHeader(bad); err == nil {
			t.Errorf("EncodeNPYHeader(%v) succeeded", bad)
		}
	}
}

// TestNPYStreaming writes a payload in pieces and reads it back in small
// reads through OpenNPY.
func TestNPYStreaming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.npy")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := NPYHeader{Descr: NPYInt32, Shape: []int{3, 40000}}
	nw, err := NewNPYWriter(f, h)
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	for row := range 3 {
		vals := make([]int32, 40000)
		for i := range vals {
			vals[i] = int32(row*1_000_003 - i*7919)
		}
		want = append(want, vals...)
		if err := WriteNPYValues(nw, vals); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteNPYValues(nw, []int32{1}); err == nil {
		t.Error("writing past the announced payload succeeded")
	}
	if err := WriteNPYValues(nw, []int64{1}); err == nil {
		t.Error("writing int64 values into an int32 array succeeded")
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	nf, err := OpenNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if !slices.Equal(nf.Header.Shape, h.Shape) || nf.Header.Descr != h.Descr || nf.Offset != 128 {
		t.Fatalf("OpenNPY header %+v offset %d", nf.Header, nf.Offset)
	}
	var got bytes.Buffer
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{nf}, make([]byte, 999)); err != nil {
		t.Fatal(err)
	}
	vals, err := DecodeNPY[int32](nf.Header, got.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vals, want) {
		t.Error("streamed values differ")
	}
	if _, err := DecodeNPY[int64](nf.Header, got.Bytes()); err == nil {
		t.Error("DecodeNPY as int64 of an int32 array succeeded")
	}
	shape, all, err := ReadNPYAs[int32](path)
	if err != nil || !slices.Equal(shape, h.Shape) || !slices.Equal(all, want) {
		t.Errorf("ReadNPYAs: shape %v, equal %v, err %v", shape, slices.Equal(all, want), err)
	}
	if _, _, err := ReadNPYAs[uint8](path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadNPYAs[uint8] of an int32 file: %v", err)
	}

	short := NPYHeader{Descr: NPYUint8, Shape: []int{4}}
	sw, err := NewNPYWriter(io.Discard, short)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err == nil {
		t.Error("Close after a short payload succeeded")
	}
	if err := WriteNPY(io.Discard, []int{2, 2}, []uint8{1, 2, 3}); err == nil {
		t.Error("WriteNPY with 3 values for shape (2, 2) succeeded")
	}
}

// npyValidFile returns np.save's bytes for a small int32 array.
func npyValidFile(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteNPY(&buf, []int{2, 3}, []int32{1, 2, 3, 4, 5, -6}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// npyWithDict builds a version 1.0 file around an arbitrary header text.
func npyWithDict(dict string, payload []byte) []byte {
	b := []byte("\x93NUMPY\x01\x00")
	b = append(b, byte(len(dict)), byte(len(dict)>>8))
	b = append(b, dict...)
	return append(b, payload...)
}

func TestNPYReadErrors(t *testing.T) {
	valid := npyValidFile(t)
	payload24 := make([]byte, 24)
	cases := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"empty file", nil, ErrNPYTruncated, "file ends after 0 bytes"},
		{"bad magic", append([]byte("PK\x03\x04"), valid[4:]...), ErrNPYMalformed, "bad magic"},
		{"magic cut", valid[:4], ErrNPYTruncated, "file ends after 4 bytes"},
		{"version 4.0", append([]byte("\x93NUMPY\x04\x00"), valid[8:]...), ErrNPYUnsupported, "version 4.0"},
		{"header length cut", valid[:9], ErrNPYTruncated, "inside the header length"},
		{"header cut", valid[:50], ErrNPYTruncated, "header announces 118 bytes, file has 40"},
		{"payload cut", valid[:len(valid)-5], ErrNPYTruncated, "payload has 19 bytes, shape (2, 3) of <i4 needs 24"},
		{"trailing bytes", append(slices.Clone(valid), 0, 0), ErrNPYMalformed, "2 trailing bytes"},
		{"float dtype", npyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", payload24), ErrNPYUnsupported, `dtype "<f4"`},
		{"big-endian", npyWithDict("{'descr': '>i4', 'fortran_order': False, 'shape': (2, 3), }\n", payload24), ErrNPYUnsupported, `dtype ">i4"`},
		{"fortran order", npyWithDict("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }\n", payload24), ErrNPYUnsupported, "fortran_order True"},
		{"missing key", npyWithDict("{'descr': '<i4', 'shape': (2, 3)}", payload24), ErrNPYMalformed, `key "fortran_order" missing`},
		{"extra key", npyWithDict("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", payload24), ErrNPYMalformed, `unexpected key "x"`},
		{"duplicate key", npyWithDict("{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}", payload24), ErrNPYMalformed, `duplicate key "descr"`},
		{"not a tuple", npyWithDict("{'descr': '<i4', 'fortran_order': False, 'shape': (6)}", payload24), ErrNPYMalformed, "not a tuple"},
		{"negative dim", npyWithDict("{'descr': '<i4', 'fortran_order': False, 'shape': (-6,)}", payload24), ErrNPYMalformed, "expected a non-negative integer"},
		{"list shape", npyWithDict("{'descr': '<i4', 'fortran_order': False, 'shape': [6]}", payload24), ErrNPYMalformed, "to open the shape tuple"},
		{"bad bool", npyWithDict("{'descr': '<i4', 'fortran_order': Falsey, 'shape': (6,)}", payload24), ErrNPYMalformed, "expected True or False"},
		{"text after dict", npyWithDict("{'descr': '<i4', 'fortran_order': False, 'shape': (6,)} x", payload24), ErrNPYMalformed, "after the header dict"},
		{"unterminated", npyWithDict("{'descr: '<i4'}", payload24), ErrNPYMalformed, "expected ':'"},
		{"non-ASCII", npyWithDict("{'descr': '<i4\xe9', 'fortran_order': False, 'shape': (6,)}", payload24), ErrNPYMalformed, "non-ASCII"},
		{"too many elements", npyWithDict("{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", nil), ErrNPYMalformed, "too many elements"},
		{"header over numpy's limit", append([]byte("\x93NUMPY\x02\x00\x11\x27\x00\x00"), make([]byte, 10001)...), ErrNPYUnsupported, "exceeds numpy's 10000-byte limit"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadNPY(path)
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: ReadNPY error %v; want %v naming the file and %q", c.name, err, c.kind, c.msg)
		}
		// The stream reader reports the same problem.
		_, _, err = ReadNPYFrom(c.name, bytes.NewReader(c.data))
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: ReadNPYFrom error %v; want %v and %q", c.name, err, c.kind, c.msg)
		}
	}
	if _, _, err := ReadNPY(filepath.Join(dir, "absent.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestNPYReadsPythonSpellings accepts header dicts that numpy accepts but
// does not write itself.
func TestNPYReadsPythonSpellings(t *testing.T) {
	for _, dict := range []string{
		`{"descr": "<i4", "fortran_order": False, "shape": (2, 3)}`,
		"{'shape':(2,3,),'fortran_order':False,'descr':'<i4'}   \n",
		"{\n 'descr' : '<i4' ,\n 'fortran_order' : False ,\n 'shape' : ( 2 , 3 ) ,\n}\n",
	} {
		h, payload, err := ReadNPYFrom("spelling", bytes.NewReader(npyWithDict(dict, make([]byte, 24))))
		if err != nil || h.Descr != NPYInt32 || !slices.Equal(h.Shape, []int{2, 3}) || len(payload) != 24 {
			t.Errorf("%q: %+v, %d bytes, %v", dict, h, len(payload), err)
		}
	}
}

// npyPython is Debian's python3, which carries numpy (the python3 on
// PATH may not).
const npyPython = "/usr/bin/python3"

func npyRequireNumpy(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(npyPython); err != nil {
		t.Skipf("%s not found: numpy cross-check skipped", npyPython)
	}
	if err := exec.Command(npyPython, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s has no numpy: cross-check skipped", npyPython)
	}
}

func npyRunPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(npyPython, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}

// TestNPYNumpyHeaders compares EncodeNPYHeader with numpy's own header
// writer over shapes that hit every padding case, including a header too
// long for version 1.0.
func TestNPYNumpyHeaders(t *testing.T) {
	npyRequireNumpy(t)
	var shapes [][]int
	for n := range 70 { // every padding remainder, including exact alignment
		shapes = append(shapes, []int{n * 13, 7}, slices.Repeat([]int{1}, n))
	}
	shapes = append(shapes, []int{123456789012345678}, []int{0}, []int{0, 5}, slices.Repeat([]int{1}, 30000))
	in, err := json.Marshal(shapes)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import io, json, sys, warnings, numpy as np
from numpy.lib import format as F
warnings.simplefilter("ignore")
out = []
for shape in json.load(sys.stdin):
    for descr in ("|u1", "<i4", "<i8"):
        b = io.BytesIO()
        F._write_array_header(b, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
        out.append(b.getvalue().hex())
print(json.dumps(out))
`
	cmd := exec.Command(npyPython, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var want []string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, shape := range shapes {
		for _, descr := range []string{NPYUint8, NPYInt32, NPYInt64} {
			got, err := EncodeNPYHeader(NPYHeader{Descr: descr, Shape: shape})
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != want[i] {
				t.Fatalf("shape of %d dims %v, %s: header differs from numpy's\n got %q", len(shape), shape[:min(len(shape), 3)], descr, got[:min(len(got), 200)])
			}
			i++
		}
	}
}

// TestNPYNumpyRoundTrip has numpy load what WriteNPYFile wrote, and reads
// what np.save wrote (format versions 1.0, 2.0 and 3.0).
func TestNPYNumpyRoundTrip(t *testing.T) {
	npyRequireNumpy(t)
	dir := t.TempDir()
	u8 := make([]uint8, 5*900)
	for i := range u8 {
		u8[i] = uint8(i * 7)
	}
	i32 := []int32{0, -1, 2147483647, -2147483648, 42}
	i64 := []int64{0, -1, 1 << 62, -1 << 63, 9}
	for name, write := range map[string]func(string) error{
		"u8.npy":     func(p string) error { return WriteNPYFile(p, []int{5, 900}, u8) },
		"i32.npy":    func(p string) error { return WriteNPYFile(p, []int{5}, i32) },
		"i64.npy":    func(p string) error { return WriteNPYFile(p, []int{5, 1}, i64) },
		"scalar.npy": func(p string) error { return WriteNPYFile(p, []int{}, []int32{7}) },
		"empty.npy":  func(p string) error { return WriteNPYFile(p, []int{0, 81}, []uint8{}) },
	} {
		if err := write(filepath.Join(dir, "go_"+name)); err != nil {
			t.Fatal(err)
		}
	}
	const script = `
import json, os, sys, numpy as np
from numpy.lib import format as F
d = sys.argv[1]
u8 = (np.arange(5 * 900) * 7).astype(np.uint8).reshape(5, 900)
arrays = {"u8.npy": u8,
          "i32.npy": np.array([0, -1, 2147483647, -2147483648, 42], dtype=np.int32),
          "i64.npy": np.array([0, -1, 1 << 62, -(1 << 63), 9], dtype=np.int64).reshape(5, 1),
          "scalar.npy": np.array(7, dtype=np.int32),
          "empty.npy": np.zeros((0, 81), dtype=np.uint8)}
same = {}
for name, a in arrays.items():
    g = np.load(os.path.join(d, "go_" + name))
    same[name] = bool(g.dtype == a.dtype and g.shape == a.shape and np.array_equal(g, a))
    np.save(os.path.join(d, "np_" + name), a)
    for v in ((2, 0), (3, 0)):
        with open(os.path.join(d, "np_v%d_" % v[0] + name), "wb") as f:
            F.write_array(f, a, version=v)
print(json.dumps(same))
`
	var same map[string]bool
	if err := json.Unmarshal(npyRunPython(t, script, dir), &same); err != nil {
		t.Fatal(err)
	}
	if len(same) != 5 {
		t.Fatalf("numpy checked %d files, want 5", len(same))
	}
	for name, ok := range same {
		if !ok {
			t.Errorf("numpy loads go_%s with a different dtype, shape or content", name)
		}
		goFile, err := os.ReadFile(filepath.Join(dir, "go_"+name))
		if err != nil {
			t.Fatal(err)
		}
		npFile, err := os.ReadFile(filepath.Join(dir, "np_"+name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(goFile, npFile) {
			t.Errorf("%s: np.save bytes differ from WriteNPYFile's", name)
		}
		for _, prefix := range []string{"np_", "np_v2_", "np_v3_"} {
			h, payload, err := ReadNPY(filepath.Join(dir, prefix+name))
			if err != nil {
				t.Errorf("%s%s: %v", prefix, name, err)
				continue
			}
			_, goPayload, err := ReadNPY(filepath.Join(dir, "go_"+name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, goPayload) || h.Descr != npyDescrOfGoFile(t, dir, name) {
				t.Errorf("%s%s: read %+v with different content", prefix, name, h)
			}
		}
	}
}

func npyDescrOfGoFile(t *testing.T, dir, name string) string {
	t.Helper()
	nf, err := OpenNPY(filepath.Join(dir, "go_"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	return nf.Header.Descr
}

// BenchmarkWriteNPYInt64 measures writing an int64 array (the reference's
// Sudoku train dtype) into memory against copying its bytes there, in the
// same run.
func BenchmarkWriteNPYInt64(b *testing.B) {
	vals := make([]int64, 1<<20)
	for i := range vals {
		vals[i] = int64(i % 11)
	}
	raw := make([]byte, 8*len(vals))
	var sink bytes.Buffer
	sink.Grow(len(raw) + 4096)
	b.Run("baseline-copy", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			sink.Reset()
			sink.Write(raw)
		}
	})
	b.Run("npy", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			sink.Reset()
			if err := WriteNPY(&sink, []int{len(vals)}, vals); err != nil {
				b.Fatal(err)
			}
		}
	})
}
