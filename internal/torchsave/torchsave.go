// Package torchsave reads a PyTorch state_dict saved with torch.save (the
// zip format of PyTorch 1.6 and later, which the reference's step_<N>
// checkpoints use), so that trm loads reference checkpoints without Python.
//
// Only what a state_dict holds is understood: an OrderedDict (with its
// _metadata attribute) of tensors rebuilt by torch._utils._rebuild_tensor_v2
// or _rebuild_parameter over typed storages. The pickle is interpreted by a
// small stack machine that knows those few globals and nothing else: it
// never executes arbitrary callables, so an untrusted file cannot run code,
// and anything else is an error naming the file and the byte offset.
package torchsave

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// Tensor is one state_dict entry, its values converted to float32.
type Tensor struct {
	Name   string
	DType  string // the storage's element type: "float32", "bfloat16", "int64", ...
	Shape  []int
	Values []float32 // row-major
}

// storageTypes maps torch's storage classes to their element type and size.
var storageTypes = map[string]struct {
	dtype string
	size  int
}{
	"FloatStorage": {"float32", 4}, "DoubleStorage": {"float64", 8}, "HalfStorage": {"float16", 2},
	"BFloat16Storage": {"bfloat16", 2}, "LongStorage": {"int64", 8}, "IntStorage": {"int32", 4},
	"ShortStorage": {"int16", 2}, "CharStorage": {"int8", 1}, "ByteStorage": {"uint8", 1}, "BoolStorage": {"bool", 1},
}

// Read loads the state_dict saved in path, in its saved order.
func Read(path string) ([]Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ts, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// Detect reports whether data starts as torch.save output does: a zip
// archive (PyTorch 1.6 and later) or a pickle (older). Those first bytes
// could also start a safetensors header length, whose JSON header then
// follows at byte 8, so that case is excluded.
func Detect(data []byte) bool {
	return (bytes.HasPrefix(data, []byte("PK\x03\x04")) || isPickle(data)) && (len(data) < 9 || data[8] != '{')
}

// isPickle reports whether data starts with a pickle protocol 2-5 header.
func isPickle(data []byte) bool {
	return len(data) > 1 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5
}

// Decode reads a torch.save zip archive held in data.
func Decode(data []byte) ([]Tensor, error) {
	if isPickle(data) {
		return nil, errors.New("a torch.save file in the legacy format of PyTorch before 1.6; load and save it again with a current PyTorch")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a torch.save zip archive: %w", err)
	}
	files := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		files[f.Name] = f
		if strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("a zip archive without <name>/data.pkl: not a torch.save file")
	}
	if _, ok := files[strings.TrimSuffix(pkl.Name, "data.pkl")+"constants.pkl"]; ok {
		return nil, errors.New("a TorchScript archive (torch.jit.save), not a state_dict")
	}
	code, err := readZipFile(pkl)
	if err != nil {
		return nil, err
	}
	root, err := unpickle(code)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	d, ok := root.(*dict)
	if !ok {
		return nil, fmt.Errorf("%s holds a %s, not a state_dict", pkl.Name, describe(root))
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl") + "data/"
	storages := map[string][]byte{}
	var out []Tensor
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("state_dict key %d is a %s, not a name", i, describe(k))
		}
		t, ok := d.values[i].(*tensor)
		if !ok {
			return nil, fmt.Errorf("state_dict entry %q is a %s, not a tensor", name, describe(d.values[i]))
		}
		raw, ok := storages[t.storage.key]
		if !ok {
			f := files[prefix+t.storage.key]
			if f == nil {
				return nil, fmt.Errorf("tensor %q: storage %s missing from the archive", name, prefix+t.storage.key)
			}
			if raw, err = readZipFile(f); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", name, err)
			}
			storages[t.storage.key] = raw
		}
		values, err := t.values(raw)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out = append(out, Tensor{Name: name, DType: t.storage.dtype, Shape: t.size, Values: values})
	}
	return out, nil
}

// readZipFile reads one archive member, refusing sizes its header
// misstates (zip's reader checks the CRC).
func readZipFile(f *zip.File) ([]byte, error) {
	if f.UncompressedSize64 > 1<<40 {
		return nil, fmt.Errorf("%s: implausible size %d", f.Name, f.UncompressedSize64)
	}
	r, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return b, nil
}

// storage is a persistent-id reference to a typed storage in the archive.
type storage struct {
	dtype string
	size  int // bytes per element
	key   string
	numel int64
}

// tensor is a strided view of a storage.
type tensor struct {
	storage      *storage
	offset       int64
	size, stride []int
}

// values gathers the tensor's elements in row-major order from the
// storage's bytes, after checking that every index lies inside it (in
// arithmetic that cannot overflow, whatever the file claims).
func (t *tensor) values(raw []byte) ([]float32, error) {
	s := t.storage
	if s.numel > int64(len(raw)/s.size) {
		return nil, fmt.Errorf("storage %s holds %d bytes, too few for %d elements of %s", s.key, len(raw), s.numel, s.dtype)
	}
	if slices.Contains(t.size, 0) {
		return []float32{}, nil
	}
	n, last := int64(1), t.offset
	for i, d := range t.size {
		if int64(d) > s.numel/n {
			// More elements than the storage: an expanded (stride 0) view,
			// which a state_dict does not hold, or a corrupt shape.
			return nil, fmt.Errorf("shape %v has more elements than its storage of %d", t.size, s.numel)
		}
		n *= int64(d)
		if d > 1 && (last >= s.numel || int64(t.stride[i]) > (s.numel-1-last)/int64(d-1)) {
			return nil, fmt.Errorf("shape %v, strides %v and offset %d reach past a storage of %d elements", t.size, t.stride, t.offset, s.numel)
		}
		last += int64(d-1) * int64(t.stride[i])
	}
	if last >= s.numel {
		return nil, fmt.Errorf("offset %d is past a storage of %d elements", t.offset, s.numel)
	}
	out := make([]float32, n)
	idx := make([]int, len(t.size))
	pos := t.offset
	for i := range out {
		out[i] = element(raw, s.dtype, pos)
		// Advance the row-major index, carrying into earlier dimensions.
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += int64(t.stride[d])
			if idx[d] < t.size[d] {
				break
			}
			pos -= int64(t.stride[d]) * int64(idx[d])
			idx[d] = 0
		}
	}
	return out, nil
}

func element(raw []byte, dtype string, i int64) float32 {
	le := binary.LittleEndian
	switch dtype {
	case "float32":
		return math.Float32frombits(le.Uint32(raw[4*i:]))
	case "float64":
		return float32(math.Float64frombits(le.Uint64(raw[8*i:])))
	case "bfloat16":
		return math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
	case "float16":
		return halfToFloat(le.Uint16(raw[2*i:]))
	case "int64":
		return float32(int64(le.Uint64(raw[8*i:])))
	case "int32":
		return float32(int32(le.Uint32(raw[4*i:])))
	case "int16":
		return float32(int16(le.Uint16(raw[2*i:])))
	case "int8":
		return float32(int8(raw[i]))
	default: // uint8, bool
		return float32(raw[i])
	}
}

// halfToFloat widens an IEEE 754 half-precision value exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0: // zero or subnormal: frac·2^-24
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	}
}
