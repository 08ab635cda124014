package loader

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func int32Chunked(t *testing.T, vals []int32, valid []bool) *arrow.Chunked {
	t.Helper()
	b := array.NewInt32Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(vals, valid)
	a := b.NewArray()
	defer a.Release()
	return arrow.NewChunked(arrow.PrimitiveTypes.Int32, []arrow.Array{a})
}

// TestPackIdentifiers places each row's identifier after its tokens and
// rejects an identifier column that has nulls or another row count.
func TestPackIdentifiers(t *testing.T) {
	const seqLen = 3
	w := recordSize(seqLen)
	dst := make([]byte, 3*w)
	ids := int32Chunked(t, []int32{7, -2, 1 << 30}, nil)
	defer ids.Release()
	if err := packIdentifiers(ids, seqLen, dst); err != nil {
		t.Fatal(err)
	}
	for r, want := range []int32{7, -2, 1 << 30} {
		if _, _, id := splitRecord(dst[r*w:(r+1)*w], seqLen); id != want {
			t.Errorf("row %d: identifier %d, want %d", r, id, want)
		}
	}
	for _, c := range []struct {
		vals  []int32
		valid []bool
		want  string
	}{
		{[]int32{1, 2, 3}, []bool{true, false, true}, "1 nulls"},
		{[]int32{1, 2}, nil, "has 2 rows, the manifest lists 3"},
		{[]int32{1, 2, 3, 4}, nil, "more rows than the manifest lists"},
	} {
		ids := int32Chunked(t, c.vals, c.valid)
		err := packIdentifiers(ids, seqLen, make([]byte, 3*w))
		ids.Release()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want one saying %q", c.vals, c.valid, err, c.want)
		}
	}
}
