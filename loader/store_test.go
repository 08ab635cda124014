package loader

import (
	"encoding/binary"
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

// TestRecordFindsChunk checks that record locates every row in its chunk
// for chunk sizes that are equal, uneven, end in a small chunk, or include
// chunks so small that finish widens its buckets past them.
func TestRecordFindsChunk(t *testing.T) {
	const seqLen = 1
	w := recordSize(seqLen)
	for name, sizes := range map[string][]int{
		"one":         {10},
		"equal":       {64, 64, 64, 64},
		"uneven":      {100, 37, 250, 64, 5},
		"small first": {1, 300, 2, 77},
		"tiny":        {70000, 1, 1, 3, 70000, 2, 90000},
	} {
		s := &store{seqLen: seqLen, starts: []int64{0}}
		for c, n := range sizes {
			ex := make([]byte, n*w)
			for i := range n {
				ex[i*w] = byte(c)                                           // chunk, in the input token
				binary.LittleEndian.PutUint32(ex[i*w+2*seqLen:], uint32(i)) // row within it, in the identifier
			}
			s.examples = append(s.examples, ex)
			s.starts = append(s.starts, s.starts[c]+int64(n))
		}
		s.finish()
		r := int64(0)
		for c, n := range sizes {
			for i := range n {
				rec := s.record(r)
				in, _, id := splitRecord(rec, seqLen)
				if int(in[0]) != c || int(id) != i {
					t.Fatalf("%s: row %d found as row %d of chunk %d, want row %d of chunk %d", name, r, id, in[0], i, c)
				}
				r++
			}
		}
	}
}

// TestGroupSummaries checks the training sampler's view of groups: sets
// whose groups are alike are described by their shape alone, others by a
// table, and both give every group's first puzzle, first row, puzzle count
// and shared example count.
func TestGroupSummaries(t *testing.T) {
	for name, c := range map[string]struct {
		puzzleSizes []int64 // examples per puzzle
		groupSizes  []int64 // puzzles per group
		even        bool
	}{
		"sudoku":           {[]int64{1, 1, 1, 1, 1, 1}, []int64{3, 3}, true},
		"even multi":       {[]int64{2, 2, 2, 2}, []int64{2, 2}, true},
		"uneven groups":    {[]int64{1, 1, 1, 1, 1}, []int64{3, 2}, false},
		"uneven puzzles":   {[]int64{1, 2, 1, 2}, []int64{2, 2}, false},
		"sizes per group":  {[]int64{1, 1, 2, 2}, []int64{2, 2}, false},
		"one group":        {[]int64{4, 4, 4}, []int64{3}, true},
		"mixed in a group": {[]int64{3, 4, 3, 4}, []int64{2, 2}, false},
	} {
		p := &Part{PuzzleIndices: []int64{0}, GroupIndices: []int64{0}}
		for _, n := range c.puzzleSizes {
			p.PuzzleIndices = append(p.PuzzleIndices, p.PuzzleIndices[len(p.PuzzleIndices)-1]+n)
		}
		for _, n := range c.groupSizes {
			p.GroupIndices = append(p.GroupIndices, p.GroupIndices[len(p.GroupIndices)-1]+n)
		}
		p.summarizeGroups()
		if got := p.even.puzzles > 0; got != c.even || (p.groups == nil) != c.even {
			t.Errorf("%s: even %v with a table of %d, want even %v", name, got, len(p.groups), c.even)
		}
		for g := range p.Groups() {
			lo, hi := p.GroupIndices[g], p.GroupIndices[g+1]
			size := int32(p.PuzzleIndices[lo+1] - p.PuzzleIndices[lo])
			for q := lo; q < hi; q++ {
				if int32(p.PuzzleIndices[q+1]-p.PuzzleIndices[q]) != size {
					size = 0
				}
			}
			want := groupInfo{firstPuzzle: lo, firstRow: p.PuzzleIndices[lo], puzzles: uint32(hi - lo), size: size}
			if got := p.group(g); got != want {
				t.Errorf("%s: group %d is %+v, want %+v", name, g, got, want)
			}
		}
	}
}
