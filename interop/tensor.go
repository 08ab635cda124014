package interop

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FixedShapeTensorName is the name of Arrow's canonical extension type for
// fixed-shape tensors; arrow-go does not ship an implementation.
const FixedShapeTensorName = "arrow.fixed_shape_tensor"

// FixedShapeTensorType is the canonical arrow.fixed_shape_tensor extension
// type: every value is a tensor of one Shape (row-major unless Permutation
// says otherwise), stored as a fixed_size_list of the product of the shape.
// Its metadata is the JSON object {"shape": [...]} with optional
// "dim_names" and "permutation", which pyarrow and the other Arrow
// implementations understand; pyarrow's to_numpy_ndarray() then returns an
// array of shape [rows, Shape...].
type FixedShapeTensorType struct {
	arrow.ExtensionBase
	Shape       []int
	DimNames    []string // optional, one per dimension
	Permutation []int    // optional physical-to-logical dimension order
}

// tensorMetadata is the serialized form of the type's parameters.
type tensorMetadata struct {
	Shape       []int    `json:"shape"`
	DimNames    []string `json:"dim_names,omitempty"`
	Permutation []int    `json:"permutation,omitempty"`
}

// NewFixedShapeTensorType returns the tensor type of the given shape over
// value, stored as fixed_size_list<item: value>[product of shape].
func NewFixedShapeTensorType(value arrow.DataType, shape []int) (*FixedShapeTensorType, error) {
	size, err := tensorSize(shape)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		// Arrow has no fixed_size_list of length 0.
		return nil, fmt.Errorf("%s: shape %v holds no values", FixedShapeTensorName, shape)
	}
	return &FixedShapeTensorType{
		ExtensionBase: arrow.ExtensionBase{Storage: arrow.FixedSizeListOf(int32(size), value)},
		Shape:         slices.Clone(shape),
	}, nil
}

// tensorSize is the number of values in a tensor of the shape.
func tensorSize(shape []int) (int, error) {
	size := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%s: negative dimension in shape %v", FixedShapeTensorName, shape)
		}
		if d != 0 && size > (1<<31-1)/d {
			return 0, fmt.Errorf("%s: shape %v has too many values for a fixed_size_list", FixedShapeTensorName, shape)
		}
		size *= d
	}
	return size, nil
}

// ArrayType is the Go type of arrays of this type.
func (*FixedShapeTensorType) ArrayType() reflect.Type { return reflect.TypeOf(FixedShapeTensorArray{}) }

// ExtensionName is the canonical name.
func (*FixedShapeTensorType) ExtensionName() string { return FixedShapeTensorName }

func (t *FixedShapeTensorType) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "extension<%s[value_type=%s, shape=%v", FixedShapeTensorName, t.ValueType(), t.Shape)
	if t.DimNames != nil {
		fmt.Fprintf(&b, ", dim_names=%v", t.DimNames)
	}
	if t.Permutation != nil {
		fmt.Fprintf(&b, ", permutation=%v", t.Permutation)
	}
	b.WriteString("]>")
	return b.String()
}

// ValueType is the element type of the tensors.
func (t *FixedShapeTensorType) ValueType() arrow.DataType {
	return t.Storage.(*arrow.FixedSizeListType).Elem()
}

// Serialize renders the type's parameters as the canonical JSON metadata,
// e.g. {"shape":[30,30]}.
func (t *FixedShapeTensorType) Serialize() string {
	data, _ := json.Marshal(tensorMetadata{Shape: t.Shape, DimNames: t.DimNames, Permutation: t.Permutation})
	return string(data)
}

// Deserialize rebuilds the type from its storage type and JSON metadata,
// checking that they agree.
func (*FixedShapeTensorType) Deserialize(storage arrow.DataType, data string) (arrow.ExtensionType, error) {
	fsl, ok := storage.(*arrow.FixedSizeListType)
	if !ok {
		return nil, fmt.Errorf("%s: storage type %s, want a fixed_size_list", FixedShapeTensorName, storage)
	}
	var md tensorMetadata
	if err := json.Unmarshal([]byte(data), &md); err != nil {
		return nil, fmt.Errorf("%s: metadata %q: %w", FixedShapeTensorName, data, err)
	}
	if md.Shape == nil {
		return nil, fmt.Errorf("%s: metadata %q has no shape", FixedShapeTensorName, data)
	}
	size, err := tensorSize(md.Shape)
	if err != nil {
		return nil, err
	}
	if size != int(fsl.Len()) {
		return nil, fmt.Errorf("%s: shape %v holds %d values, the storage lists hold %d", FixedShapeTensorName, md.Shape, size, fsl.Len())
	}
	if md.DimNames != nil && len(md.DimNames) != len(md.Shape) {
		return nil, fmt.Errorf("%s: %d dim_names for %d dimensions", FixedShapeTensorName, len(md.DimNames), len(md.Shape))
	}
	if md.Permutation != nil {
		seen := make([]bool, len(md.Shape))
		if len(md.Permutation) != len(md.Shape) {
			return nil, fmt.Errorf("%s: permutation %v for %d dimensions", FixedShapeTensorName, md.Permutation, len(md.Shape))
		}
		for _, p := range md.Permutation {
			if p < 0 || p >= len(seen) || seen[p] {
				return nil, fmt.Errorf("%s: permutation %v is not a permutation of 0..%d", FixedShapeTensorName, md.Permutation, len(seen)-1)
			}
			seen[p] = true
		}
	}
	return &FixedShapeTensorType{
		ExtensionBase: arrow.ExtensionBase{Storage: storage},
		Shape:         md.Shape, DimNames: md.DimNames, Permutation: md.Permutation,
	}, nil
}

// ExtensionEquals reports whether other is a tensor type with the same
// storage and parameters.
func (t *FixedShapeTensorType) ExtensionEquals(other arrow.ExtensionType) bool {
	o, ok := other.(*FixedShapeTensorType)
	return ok && arrow.TypeEqual(t.Storage, o.Storage) && slices.Equal(t.Shape, o.Shape) &&
		slices.Equal(t.DimNames, o.DimNames) && slices.Equal(t.Permutation, o.Permutation)
}

// FixedShapeTensorArray is an array of FixedShapeTensorType; its storage is
// the fixed_size_list array.
type FixedShapeTensorArray struct {
	array.ExtensionArrayBase
}

func init() {
	// One registration serves every shape: readers call Deserialize with
	// each field's metadata. Another package may have registered the name
	// already; then its implementation stays.
	if arrow.GetExtensionType(FixedShapeTensorName) == nil {
		if err := arrow.RegisterExtensionType(&FixedShapeTensorType{ExtensionBase: arrow.ExtensionBase{Storage: arrow.FixedSizeListOf(1, arrow.PrimitiveTypes.Uint8)}, Shape: []int{1}}); err != nil {
			panic(err)
		}
	}
}

var (
	_ arrow.ExtensionType  = (*FixedShapeTensorType)(nil)
	_ array.ExtensionArray = (*FixedShapeTensorArray)(nil)
)
