// Package npygolden reads the .npy entries of the spec's golden files
// (spec/sudoku-maze-builder-golden.json), so that the tests of the packages
// that write .npy files rebuild the reference arrays the same way. It does
// not depend on those packages: their own tests import it.
package npygolden

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Array is one .npy entry: what numpy's np.save wrote, with the values as
// nested JSON lists.
type Array struct {
	Dtype  string          `json:"dtype"`
	Shape  []int           `json:"shape"`
	SHA256 string          `json:"sha256_of_npy_file"`
	Values json.RawMessage `json:"values"`
}

// Ints returns the values flattened in C order.
func (a Array) Ints() ([]int64, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(a.Values))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("golden values: %w", err)
	}
	var out []int64
	var walk func(any) error
	walk = func(x any) error {
		switch x := x.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return fmt.Errorf("golden value %s: %w", x, err)
			}
			out = append(out, n)
		default:
			return fmt.Errorf("unexpected value %v in golden array", x)
		}
		return nil
	}
	return out, walk(v)
}

// Convert narrows values to an array's element type.
func Convert[T ~uint8 | ~int32](vals []int64) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = T(v)
	}
	return out
}
