package npygolden

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestInts(t *testing.T) {
	var a Array
	if err := json.Unmarshal([]byte(`{"dtype":"int32","shape":[2,2,1],"sha256_of_npy_file":"x","values":[[[1],[-2]],[[3],[9007199254740993]]]}`), &a); err != nil {
		t.Fatal(err)
	}
	got, err := a.Ints()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, -2, 3, 9007199254740993}; !slices.Equal(got, want) {
		t.Errorf("Ints() = %v, want %v", got, want)
	}
	if c := Convert[uint8]([]int64{1, 255}); !slices.Equal(c, []uint8{1, 255}) {
		t.Errorf("Convert = %v", c)
	}
	for _, bad := range []string{`[1, "x"]`, `[1.5]`, `[1,`} {
		if _, err := (Array{Values: json.RawMessage(bad)}).Ints(); err == nil {
			t.Errorf("Ints(%s) succeeded", bad)
		}
	}
}
