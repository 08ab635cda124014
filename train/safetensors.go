package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tinyrecursion/trm/internal/torchsave"
)

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	Name  string
	DType string // "F32", "I32", "U8"
	Shape []int
	Data  []byte // little-endian
}

type stHeaderEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// stLayout is a tensor's entry in a safetensors header: its data's size,
// not the data.
type stLayout struct {
	Name, DType string
	Shape       []int
	Bytes       int64
}

// safetensorsHeader returns the start of a safetensors file (an 8-byte
// little-endian header length, then a JSON header of dtype, shape and byte
// offsets per tensor plus string metadata) for tensors whose data follow
// in the order given. The header is padded with spaces to a multiple of 8
// bytes so that the data is aligned.
func safetensorsHeader(layout []stLayout, meta map[string]string) []byte {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range layout {
		header[t.Name] = stHeaderEntry{t.DType, t.Shape, [2]int64{off, off + t.Bytes}}
		off += t.Bytes
	}
	h, err := json.Marshal(header)
	if err != nil {
		panic(err) // strings and ints only
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)
}

// encodeSafetensors writes the safetensors format, which PyTorch's
// safetensors.torch load_file reads: the header, then the tensors' data.
func encodeSafetensors(tensors []stTensor, meta map[string]string) []byte {
	layout := make([]stLayout, len(tensors))
	size := 0
	for i, t := range tensors {
		layout[i] = stLayout{t.Name, t.DType, t.Shape, int64(len(t.Data))}
		size += len(t.Data)
	}
	out := safetensorsHeader(layout, meta)
	out = slices.Grow(out, size)
	for _, t := range tensors {
		out = append(out, t.Data...)
	}
	return out
}

// decodeSafetensors parses a safetensors file; name is used in errors.
func decodeSafetensors(name string, data []byte) (map[string]stTensor, map[string]string, error) {
	if torchsave.Detect(data) {
		return nil, nil, fmt.Errorf("%s is a PyTorch torch.save file (as the reference writes its step_<N> checkpoints), not safetensors", name)
	}
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("%s: %d bytes, too short for a safetensors header", name, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("%s: header of %d bytes runs past the end of the file (%d bytes)", name, n, len(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", name, err)
	}
	body := data[8+n:]
	tensors := map[string]stTensor{}
	var meta map[string]string
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s: __metadata__: %w", name, err)
			}
			continue
		}
		var e stHeaderEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %q: %w", name, k, err)
		}
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, nil, fmt.Errorf("%s: tensor %q: unsupported dtype %q", name, k, e.DType)
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt32/int64(d)) {
				return nil, nil, fmt.Errorf("%s: tensor %q: bad shape %v", name, k, e.Shape)
			}
			count *= int64(d)
		}
		b, end := e.Offsets[0], e.Offsets[1]
		if b < 0 || end < b || end > int64(len(body)) || end-b != count*size {
			return nil, nil, fmt.Errorf("%s: tensor %q: offsets %v do not fit shape %v %s in %d data bytes", name, k, e.Offsets, e.Shape, e.DType, len(body))
		}
		tensors[k] = stTensor{Name: k, DType: e.DType, Shape: e.Shape, Data: body[b:end]}
	}
	return tensors, meta, nil
}

var dtypeSize = map[string]int64{"F32": 4, "F64": 8, "I32": 4, "U8": 1}

func f32Bytes[T float32 | float64](v []T) []byte { return appendF32(make([]byte, 0, 4*len(v)), v) }

func i32Bytes(v []int32) []byte { return appendI32(make([]byte, 0, 4*len(v)), v) }

// appendF32 appends v as little-endian float32s.
func appendF32[T float32 | float64](dst []byte, v []T) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(x)))
	}
	return dst
}

// appendI32 appends v as little-endian int32s.
func appendI32(dst []byte, v []int32) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
	}
	return dst
}

// decodeF32 fills dst with the little-endian float32s at the start of src.
func decodeF32(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// decodeI32 fills dst with the little-endian int32s at the start of src.
func decodeI32(dst []int32, src []byte) {
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// readF32 copies tensor t (F32, shape want) into dst.
func readF32(t stTensor, ok bool, name string, want []int, dst []float32) error {
	if !ok {
		return fmt.Errorf("tensor %q missing", name)
	}
	if t.DType != "F32" || !slices.Equal(t.Shape, want) {
		return fmt.Errorf("tensor %q is %s %v, want F32 %v", name, t.DType, t.Shape, want)
	}
	decodeF32(dst, t.Data)
	return nil
}

func readI32(t stTensor, ok bool, name string, want []int, dst []int32) error {
	if !ok {
		return fmt.Errorf("tensor %q missing", name)
	}
	if t.DType != "I32" || !slices.Equal(t.Shape, want) {
		return fmt.Errorf("tensor %q is %s %v, want I32 %v", name, t.DType, t.Shape, want)
	}
	decodeI32(dst, t.Data)
	return nil
}
