package torchsave

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// golden is testdata/state_dict.json, written by PyTorch 1.13 beside
// state_dict.pt: every tensor's dtype, shape and values (as float32).
type golden struct {
	Order   []string
	Tensors map[string]struct {
		DType  string
		Shape  []int
		Values []float64
	}
}

// TestReadMatchesPyTorch reads a state_dict torch.save wrote (float32,
// bfloat16, float16, float64, int64 and bool tensors, a view with an offset
// and row stride and a transposed view sharing one storage, a 0-d tensor,
// the _metadata attribute) and compares every value with what PyTorch
// printed.
func TestReadMatchesPyTorch(t *testing.T) {
	ts, err := Read("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	raw, err := os.ReadFile("testdata/state_dict.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range ts {
		names = append(names, tt.Name)
		want := g.Tensors[tt.Name]
		if "torch."+tt.DType != want.DType || !slices.Equal(tt.Shape, want.Shape) || len(tt.Values) != len(want.Values) {
			t.Errorf("%s: %s %v with %d values; PyTorch: %s %v with %d", tt.Name, tt.DType, tt.Shape, len(tt.Values), want.DType, want.Shape, len(want.Values))
			continue
		}
		for i, v := range tt.Values {
			if v != float32(want.Values[i]) {
				t.Errorf("%s[%d] = %v, PyTorch %v", tt.Name, i, v, want.Values[i])
			}
		}
	}
	if !slices.Equal(names, g.Order) {
		t.Errorf("order %v, PyTorch %v", names, g.Order)
	}
}

func TestLegacyFormatIsNamed(t *testing.T) {
	_, err := Read("testdata/legacy.pt")
	if err == nil || !strings.Contains(err.Error(), "legacy format") || !strings.Contains(err.Error(), "legacy.pt") {
		t.Fatalf("legacy torch.save file: %v, want an error naming the file and the format", err)
	}
}

// rewrite returns the fixture archive with one member's bytes changed.
func rewrite(t *testing.T, member string, change func([]byte) []byte) []byte {
	t.Helper()
	zr, err := zip.OpenReader("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		b, err := readZipFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == member {
			b = change(b)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestBadFiles: every malformed input is an error saying what is wrong,
// and a pickle naming any other callable (as a malicious file would) is
// refused rather than run.
func TestBadFiles(t *testing.T) {
	good, err := os.ReadFile("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a torch.save zip"},
		{"truncated", good[:len(good)/2], "not a torch.save zip"},
		{"other zip", func() []byte {
			var b bytes.Buffer
			zw := zip.NewWriter(&b)
			w, _ := zw.Create("a.txt")
			w.Write([]byte("x"))
			zw.Close()
			return b.Bytes()
		}(), "without <name>/data.pkl"},
		{"foreign callable", rewrite(t, "state_dict/data.pkl", func(b []byte) []byte {
			return bytes.Replace(b, []byte("collections\nOrderedDict\n"), []byte("subprocess\ncheck_output\n"), 1)
		}), "subprocess.check_output is not part of a state_dict"},
		{"pickle cut short", rewrite(t, "state_dict/data.pkl", func(b []byte) []byte { return b[:len(b)-40] }), "pickle byte 863 (opcode 0x71): truncated"},
		{"pickle without STOP", rewrite(t, "state_dict/data.pkl", func(b []byte) []byte { return b[:len(b)-1] }), "without STOP"},
		{"short storage", rewrite(t, "state_dict/data/5", func(b []byte) []byte { return b[:len(b)-4] }), "too few for"},
		{"missing storage", rewrite(t, "state_dict/data.pkl", func(b []byte) []byte {
			return bytes.Replace(b, []byte("X\x01\x00\x00\x005"), []byte("X\x01\x00\x00\x009"), 1)
		}), "storage state_dict/data/9 missing"},
	} {
		_, err := Decode(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 5.960464477539063e-08, 0x7bff: 65504, 0x8000: float32(math.Copysign(0, -1))} {
		if got := halfToFloat(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
	if !math.IsInf(float64(halfToFloat(0x7c00)), 1) || !math.IsNaN(float64(halfToFloat(0x7e00))) {
		t.Error("infinity or NaN not kept")
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"testdata/state_dict.pt", "testdata/legacy.pt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := Decode(data)
		if err != nil {
			return
		}
		for _, tt := range ts {
			n := 1
			for _, d := range tt.Shape {
				n *= d
			}
			if n != len(tt.Values) {
				t.Fatalf("%s: %d values for shape %v", tt.Name, len(tt.Values), tt.Shape)
			}
		}
	})
}

// FuzzUnpickle runs the pickle machine alone, where a fuzzer finds its
// way around faster than through zip headers and CRCs.
func FuzzUnpickle(f *testing.F) {
	zr, err := zip.OpenReader("testdata/state_dict.pt")
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range zr.File {
		if strings.HasSuffix(m.Name, "data.pkl") {
			b, err := readZipFile(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	zr.Close()
	f.Fuzz(func(t *testing.T, code []byte) {
		unpickle(code)
	})
}

func TestDetect(t *testing.T) {
	for _, name := range []string{"testdata/state_dict.pt", "testdata/legacy.pt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !Detect(b) {
			t.Errorf("%s not detected as torch.save output", name)
		}
	}
	// A safetensors file whose 8-byte header length is 0x280 starts as a
	// pickle does; its JSON header at byte 8 tells it apart.
	if Detect([]byte{0x80, 0x02, 0, 0, 0, 0, 0, 0, '{', '}'}) {
		t.Error("safetensors header taken for a pickle")
	}
}
