package interop

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/tinyrecursion/trm/dataset"
)

// FuzzFixedShapeTensorDeserialize: any metadata is either rejected or
// yields a type whose shape fills the storage lists exactly and whose
// serialization reads back as the same type.
func FuzzFixedShapeTensorDeserialize(f *testing.F) {
	f.Add(`{"shape":[30,30]}`, uint16(900))
	f.Add(`{"shape":[3,4],"dim_names":["H","W"],"permutation":[1,0]}`, uint16(12))
	f.Add(`{"shape":[]}`, uint16(1))
	f.Add(`{"shape":[0,5]}`, uint16(1))
	f.Add(`{"shape":[2147483647,2147483647]}`, uint16(1))
	f.Add(`{"shape":[3,4],"permutation":[1,1]}`, uint16(12))
	f.Fuzz(func(t *testing.T, meta string, listLen uint16) {
		if listLen == 0 {
			return // Arrow has no fixed_size_list of length 0
		}
		storage := arrow.FixedSizeListOf(int32(listLen), arrow.PrimitiveTypes.Uint8)
		typ, err := (&FixedShapeTensorType{}).Deserialize(storage, meta)
		if err != nil {
			return
		}
		tt := typ.(*FixedShapeTensorType)
		size, err := tensorSize(tt.Shape)
		if err != nil || size != int(listLen) {
			t.Fatalf("accepted shape %v for lists of %d (%v)", tt.Shape, listLen, err)
		}
		back, err := tt.Deserialize(storage, tt.Serialize())
		if err != nil || !back.ExtensionEquals(tt) {
			t.Fatalf("serialized %s does not read back: %v", tt.Serialize(), err)
		}
	})
}

// FuzzCheckRefIndices: index arrays the import accepts describe a valid
// partition (every group and puzzle non-empty and inside the rows), so that
// the group-by-group reader cannot go out of bounds.
func FuzzCheckRefIndices(f *testing.F) {
	enc := func(vals ...int32) []byte {
		var b []byte
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
		return b
	}
	f.Add(enc(0, 0, 0), enc(0, 1, 3, 4), enc(0, 2, 3), uint16(4), uint8(2))
	f.Add(enc(1), enc(0, 5), enc(0, 1), uint16(5), uint8(1))
	f.Add(enc(0, 0), enc(0, 2, 1), enc(0, 2), uint16(1), uint8(1))
	f.Add(enc(), enc(0), enc(0), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, idsRaw, pidxRaw, gidxRaw []byte, rows uint16, groupsAsPuzzles uint8) {
		dec := func(b []byte) []int32 {
			out := make([]int32, len(b)/4)
			for i := range out {
				out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
			return out
		}
		ids, pidx, gidx := dec(idsRaw), dec(pidxRaw), dec(gidxRaw)
		meta := dataset.Metadata{VocabSize: 12, SeqLen: 4, NumPuzzleIdentifiers: 3, TotalGroups: max(0, len(gidx)-1),
			TotalPuzzles: len(ids), Sets: []string{"all"}}
		if groupsAsPuzzles%2 == 1 {
			meta.TotalPuzzles = meta.TotalGroups
		}
		if len(ids) > 0 {
			meta.MeanPuzzleExamples = float64(rows) / float64(len(ids))
		}
		if err := checkRefIndices("ref/train", meta, int(rows), 4, ids, pidx, gidx); err != nil {
			return
		}
		if pidx[0] != 0 || int(pidx[len(pidx)-1]) != int(rows) || gidx[0] != 0 || int(gidx[len(gidx)-1]) != len(ids) {
			t.Fatalf("accepted ends: puzzle indices %v, group indices %v, %d rows, %d puzzles", pidx, gidx, rows, len(ids))
		}
		for i := 1; i < len(pidx); i++ {
			if pidx[i] <= pidx[i-1] {
				t.Fatalf("accepted empty or negative puzzle: %v", pidx)
			}
		}
		for i := 1; i < len(gidx); i++ {
			if gidx[i] <= gidx[i-1] {
				t.Fatalf("accepted empty or negative group: %v", gidx)
			}
		}
		for _, id := range ids {
			if id < 0 || id >= 3 {
				t.Fatalf("accepted identifier %d", id)
			}
		}
	})
}

// FuzzParseIdentifiers: identifiers.json is accepted only as a list of
// strings, and every accepted name yields an aug suffix without panicking.
func FuzzParseIdentifiers(f *testing.F) {
	f.Add([]byte(`["<blank>"]`))
	f.Add([]byte(`["<blank>", "8be77c9e", "8be77c9e|||t7|||0612397845", "x|||"]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1, 2]`))
	f.Add([]byte(`["\u00e9|||t1|||0123456789"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := parseIdentifiers("identifiers.json", data)
		if err != nil {
			return
		}
		var check []string
		if json.Unmarshal(data, &check) != nil || !slices.Equal(check, names) {
			t.Fatalf("accepted %q as %q", data, names)
		}
		for _, n := range names {
			if a := augOf(n); len(a) > len(n) {
				t.Fatalf("aug %q longer than name %q", a, n)
			}
		}
	})
}

// FuzzImportPuzzleIndices replaces the train split's puzzle_indices.npy of
// a valid reference directory with arbitrary bytes: the import either
// fails with an error naming that file or succeeds (then the bytes were a
// valid index array) and produces a dataset that verifies.
func FuzzImportPuzzleIndices(f *testing.F) {
	base := f.TempDir()
	td := sudokuLike(3, 1, 1, 21)
	ds := td.write(f, filepath.Join(base, "ds"))
	valid := filepath.Join(base, "ref")
	if _, err := ExportNPY(context.Background(), ds, valid, NPYExportOptions{}); err != nil {
		f.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(valid, "train", "all__puzzle_indices.npy"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(orig[:len(orig)-4])
	f.Add(orig[:10])
	f.Add([]byte{})
	swapped := slices.Clone(orig)
	copy(swapped[len(swapped)-8:], []byte{6, 0, 0, 0, 5, 0, 0, 0})
	f.Add(swapped)
	f.Fuzz(func(t *testing.T, data []byte) {
		ref := filepath.Join(t.TempDir(), "ref")
		if err := os.CopyFS(ref, os.DirFS(valid)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(ref, "train", "all__puzzle_indices.npy")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		_, err := ImportNPY(context.Background(), ref, out, NPYImportOptions{})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name %s: %v", path, err)
			}
			return
		}
		got, err := dataset.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := dataset.Verify(context.Background(), got, dataset.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
