package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
)

// testGroups makes n groups of varying puzzle and example counts with
// tokens below vocab.
func testGroups(n, seqLen, vocab int, seed uint64) []*Group {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*Group
	id := int32(1)
	for range n {
		g := &Group{}
		for p := range 1 + rng.IntN(4) {
			ex := 1 + rng.IntN(3)
			for range ex * seqLen {
				g.Inputs = append(g.Inputs, byte(rng.IntN(vocab)))
				g.Labels = append(g.Labels, byte(rng.IntN(vocab)))
			}
			aug := ""
			if p > 0 {
				aug = fmt.Sprintf("t%d", rng.IntN(8))
			}
			g.AddPuzzle(ex, id, aug)
			id++
		}
		out = append(out, g)
	}
	return out
}

// writeTestDataset writes splits train and test and returns the groups.
func writeTestDataset(t testing.TB, dir string, opts Options) map[string][]*Group {
	t.Helper()
	w, err := Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	const vocab = 12
	shape := [2]int{3, 4}
	all := map[string][]*Group{"train": testGroups(40, 12, vocab, 1), "test": testGroups(7, 12, vocab, 2)}
	for _, name := range []string{"train", "test"} {
		s, err := w.CreateSplit(SplitSpec{Name: name, VocabSize: vocab, GridShape: shape})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range all[name] {
			if err := s.WriteGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		st := s.Stats()
		meta := Metadata{IgnoreLabelID: IntPtr(0), VocabSize: vocab, SeqLen: 12, NumPuzzleIdentifiers: 1000,
			TotalGroups: int(st.Groups), TotalPuzzles: int(st.Puzzles), MeanPuzzleExamples: float64(st.Rows) / float64(st.Puzzles), Sets: []string{"all"}}
		if err := s.Close(meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile("identifiers.json", []byte(`["<blank>"]`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return all
}

func TestWriteReadVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	// Tiny shards and row groups so that several of each are exercised.
	groups := writeTestDataset(t, dir, Options{ShardBytes: 500, RowGroupBytes: 100, Workers: 2})
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), ds, VerifyOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	train, _ := ds.Manifest.Split("train")
	if len(train.Shards) < 3 {
		t.Fatalf("want several shards, got %d", len(train.Shards))
	}
	// Every row read back equals what was written, in order.
	for _, split := range ds.Manifest.Splits {
		var want Rows
		var puzzle, group int32
		for _, g := range groups[split.Name] {
			want.Inputs = append(want.Inputs, g.Inputs...)
			want.Labels = append(want.Labels, g.Labels...)
			for p, size := range g.PuzzleSizes {
				for range size {
					want.Identifiers = append(want.Identifiers, g.PuzzleIdentifiers[p])
					want.Puzzles = append(want.Puzzles, puzzle)
					want.Groups = append(want.Groups, group)
					want.Augs = append(want.Augs, g.Augs[p])
				}
				puzzle++
			}
			group++
		}
		got, err := ds.ReadSplit(context.Background(), split.Name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Inputs) != string(want.Inputs) || string(got.Labels) != string(want.Labels) {
			t.Fatalf("%s: tokens differ", split.Name)
		}
		if fmt.Sprint(got.Identifiers, got.Puzzles, got.Groups, got.Augs) != fmt.Sprint(want.Identifiers, want.Puzzles, want.Groups, want.Augs) {
			t.Fatalf("%s: index columns differ", split.Name)
		}
	}
}

// TestCrossReadParquetGo reads every shard with parquet-go, the other
// implementation, and compares all columns and the file metadata.
func TestCrossReadParquetGo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	writeTestDataset(t, dir, Options{ShardBytes: 500, RowGroupBytes: 100})
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range ds.Manifest.Splits {
		for _, sh := range split.Shards {
			path := ds.ShardPath(sh)
			data, err := ReadShard(context.Background(), path, 12, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			want, err := data.Flatten(12)
			kv := data.KeyValue
			data.Release()
			if err != nil {
				t.Fatal(err)
			}
			got := readWithParquetGo(t, path)
			if string(got.Inputs) != string(want.Inputs) || string(got.Labels) != string(want.Labels) {
				t.Fatalf("%s: tokens differ between readers", path)
			}
			if fmt.Sprint(got.Identifiers, got.Puzzles, got.Groups, got.Sets, got.Augs) != fmt.Sprint(want.Identifiers, want.Puzzles, want.Groups, want.Sets, want.Augs) {
				t.Fatalf("%s: index or string columns differ between readers", path)
			}
			f, _ := os.Open(path)
			st, _ := f.Stat()
			pf, err := pq.OpenFile(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{KeyMetadata, KeyGridShape, KeySplit, KeyFormat} {
				v, ok := pf.Lookup(k)
				if !ok || v != kv[k] {
					t.Fatalf("%s: key %s: parquet-go %q, arrow %q", path, k, v, kv[k])
				}
			}
			f.Close()
		}
	}
}

func readWithParquetGo(t *testing.T, path string) *Rows {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pq.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, field := range pf.Schema().Fields() {
		names = append(names, field.Name())
	}
	if strings.Join(names, ",") != "inputs,labels,puzzle_identifier,puzzle,group,set,aug" {
		t.Fatalf("parquet-go sees columns %v", names)
	}
	r := &Rows{SeqLen: 12}
	for _, rg := range pf.RowGroups() {
		for ci, chunk := range rg.ColumnChunks() {
			pages := chunk.Pages()
			for {
				page, err := pages.ReadPage()
				if err != nil {
					break
				}
				vals := make([]pq.Value, page.NumValues())
				n, _ := page.Values().ReadValues(vals)
				for _, v := range vals[:n] {
					switch ci {
					case 0:
						r.Inputs = append(r.Inputs, v.ByteArray()...)
					case 1:
						r.Labels = append(r.Labels, v.ByteArray()...)
					case 2:
						r.Identifiers = append(r.Identifiers, v.Int32())
					case 3:
						r.Puzzles = append(r.Puzzles, v.Int32())
					case 4:
						r.Groups = append(r.Groups, v.Int32())
					case 5:
						r.Sets = append(r.Sets, string(v.ByteArray()))
					case 6:
						r.Augs = append(r.Augs, string(v.ByteArray()))
					}
				}
			}
			pages.Close()
		}
	}
	return r
}

func TestVerifyDetectsFlippedByte(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	writeTestDataset(t, dir, Options{})
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := ds.ShardPath(ds.Manifest.Splits[0].Shards[0])
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0x40
	os.WriteFile(path, data, 0o644)
	err = Verify(context.Background(), ds, VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), "part-00000.parquet") {
		t.Fatalf("want a checksum error naming the shard, got %v", err)
	}
}

func TestCheckRowsViolations(t *testing.T) {
	base := func() (*Rows, Metadata, Shard) {
		r := &Rows{SeqLen: 2, Inputs: []byte{1, 2, 3, 4, 5, 6}, Labels: []byte{1, 1, 1, 1, 1, 1},
			Identifiers: []int32{1, 1, 2}, Puzzles: []int32{0, 0, 1}, Groups: []int32{0, 0, 1}, Sets: []string{"all", "all", "all"}, Augs: []string{"", "", "t1"}}
		return r, Metadata{VocabSize: 7, SeqLen: 2, NumPuzzleIdentifiers: 3, Sets: []string{"all"}}, Shard{Rows: 3, Groups: 2, Puzzles: 2}
	}
	r, m, sh := base()
	if err := CheckRows(r, m, sh); err != nil {
		t.Fatalf("valid rows rejected: %v", err)
	}
	cases := map[string]func(r *Rows, m *Metadata, sh *Shard){
		"token >= vocab":       func(r *Rows, m *Metadata, sh *Shard) { r.Inputs[5] = 7 },
		"identifier range":     func(r *Rows, m *Metadata, sh *Shard) { r.Identifiers[2] = 3 },
		"puzzle gap":           func(r *Rows, m *Metadata, sh *Shard) { r.Puzzles[2] = 2 },
		"group backwards":      func(r *Rows, m *Metadata, sh *Shard) { r.Groups[1] = 1; r.Groups[2] = 0 },
		"puzzle spans groups":  func(r *Rows, m *Metadata, sh *Shard) { r.Groups[1] = 1; r.Groups[2] = 1 },
		"split group":          func(r *Rows, m *Metadata, sh *Shard) { sh.FirstGroup = 1 },
		"row count":            func(r *Rows, m *Metadata, sh *Shard) { sh.Rows = 4 },
		"unknown set":          func(r *Rows, m *Metadata, sh *Shard) { r.Sets[0] = "x" },
		"identifier in puzzle": func(r *Rows, m *Metadata, sh *Shard) { r.Identifiers[1] = 2 },
		"group count":          func(r *Rows, m *Metadata, sh *Shard) { sh.Groups = 3 },
	}
	for name, mutate := range cases {
		r, m, sh := base()
		mutate(r, &m, &sh)
		if err := CheckRows(r, m, sh); err == nil {
			t.Errorf("%s: violation not detected", name)
		}
	}
}

func TestCreateRefusesAndForce(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ds")
	writeTestDataset(t, dir, Options{})
	if _, err := Create(dir, Options{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("want refusal mentioning --force, got %v", err)
	}
	writeTestDataset(t, dir, Options{Force: true})
	other := filepath.Join(root, "notes")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "x.txt"), []byte("keep"), 0o644)
	if _, err := Create(other, Options{Force: true}); err == nil {
		t.Fatal("replacing a non-dataset directory must be refused even with force")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("leftover temporary directories: %v", entries)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	root := t.TempDir()
	w, err := Create(filepath.Join(root, "ds"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.CreateSplit(SplitSpec{Name: "train", VocabSize: 12, GridShape: [2]int{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range testGroups(5, 12, 12, 3) {
		if err := s.WriteGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	bad := testGroups(1, 12, 12, 4)[0]
	bad.Inputs[0] = 12
	if err := s.WriteGroup(bad); err == nil || !strings.Contains(err.Error(), "vocab") {
		t.Fatalf("out-of-range token accepted: %v", err)
	}
	w.Abort()
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Fatalf("abort left %v", entries)
	}
}

func TestManifestValidation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	writeTestDataset(t, dir, Options{ShardBytes: 500})
	data, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	var m map[string]any
	json.Unmarshal(data, &m)
	if _, err := ParseManifest("m", data); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `"first_row": 0`, `"first_row": 1`, 1)
	if _, err := ParseManifest("m", []byte(bad)); err == nil {
		t.Fatal("inconsistent first_row accepted")
	}
	bad = strings.Replace(string(data), `"file": "train/part-00000.parquet"`, `"file": "../x.parquet"`, 1)
	if _, err := ParseManifest("m", []byte(bad)); err == nil {
		t.Fatal("escaping shard path accepted")
	}
	if _, err := ParseManifest("m", data[:len(data)/2]); err == nil || !strings.Contains(err.Error(), "m:") {
		t.Fatalf("truncated manifest: %v", err)
	}
}

func TestFirstTokenAtLeast(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		n := rng.IntN(40)
		limit := byte(1 + rng.IntN(255))
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.IntN(int(limit))) // all valid
		}
		if n > 0 && rng.IntN(2) == 0 {
			buf[rng.IntN(n)] = limit + byte(rng.IntN(256-int(limit)))
		}
		want := -1
		for i, b := range buf {
			if b >= limit {
				want = i
				break
			}
		}
		if got := firstTokenAtLeast(buf, limit); got != want {
			t.Fatalf("limit %d, %v: got %d, want %d", limit, buf, got, want)
		}
	}
}
