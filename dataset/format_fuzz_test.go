package dataset

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzParseManifest feeds arbitrary bytes to the manifest parser: every
// rejection names the file, and whatever it accepts must hold the
// invariants readers rely on (local shard paths, shards that tile the
// split) and survive a marshal/parse round trip unchanged.
func FuzzParseManifest(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "ds")
	writeTestDataset(f, dir, Options{ShardBytes: 500})
	valid, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(strings.Replace(string(valid), `"rows": 0`, `"rows": -1`, 1)))
	f.Add([]byte(`{"format": "trm-dataset", "version": 1, "splits": [{"name": "a", "shards": [{"file": "/etc/passwd"}]}]}`))
	f.Add([]byte(`{"format": "trm-dataset", "version": 1, "splits": [{"name": "a"}, {"name": "a"}]}`))
	f.Add([]byte(`{"format": "trm-dataset", "version": 1, "unknown": 1}`))
	f.Add([]byte(`{"format": "trm-dataset", "version": 2}`))
	f.Add([]byte("{\n\"format\": 7}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("fuzz/manifest.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz/manifest.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, s := range m.Splits {
			var rows int64
			for _, sh := range s.Shards {
				if !filepath.IsLocal(sh.File) || sh.FirstRow != rows || sh.Rows < 0 {
					t.Fatalf("accepted shard %+v of split %s (rows so far %d)", sh, s.Name, rows)
				}
				rows += sh.Rows
			}
			if rows != s.Rows {
				t.Fatalf("accepted split %s with %d rows whose shards hold %d", s.Name, s.Rows, rows)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest("again", again)
		if err != nil {
			t.Fatalf("re-reading an accepted manifest: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(normalizeManifest(m), normalizeManifest(m2)) {
			t.Fatalf("round trip changed\n%+v\ninto\n%+v", m, m2)
		}
	})
}

// normalizeManifest makes a manifest comparable after a JSON round trip:
// the builder's raw config is compared as compact JSON, and an empty
// config as absent (json.RawMessage marshals nil as null).
func normalizeManifest(m *Manifest) Manifest {
	n := *m
	if len(n.Builder.Config) == 0 || string(n.Builder.Config) == "null" {
		n.Builder.Config = nil
		return n
	}
	var v any
	if json.Unmarshal(n.Builder.Config, &v) == nil {
		n.Builder.Config, _ = json.Marshal(v)
	}
	return n
}

// FuzzParseMetadata feeds arbitrary bytes to the dataset.json parser:
// rejections name the file, and an accepted file must be within the
// ranges the loader and model assume and re-read identically from the
// reference rendering trm writes.
func FuzzParseMetadata(f *testing.F) {
	meta := Metadata{IgnoreLabelID: IntPtr(0), VocabSize: 12, SeqLen: 81, NumPuzzleIdentifiers: 3, TotalGroups: 2,
		MeanPuzzleExamples: 1.5, TotalPuzzles: 2, Sets: []string{"all", "o'k\"\\"}}
	f.Add(meta.MarshalReference())
	meta.IgnoreLabelID = nil
	f.Add(meta.MarshalReference())
	f.Add([]byte(`{"pad_id": 0, "ignore_label_id": null, "blank_identifier_id": 0, "vocab_size": 300, "seq_len": 1, "num_puzzle_identifiers": 1, "total_groups": 0, "mean_puzzle_examples": 0, "total_puzzles": 0, "sets": []}`))
	f.Add([]byte(`{"pad_id": 0}`))
	f.Add([]byte(`{"mean_puzzle_examples": NaN}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata("fuzz/dataset.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz/dataset.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if m.VocabSize < 1 || m.VocabSize > 256 || m.SeqLen < 1 || m.NumPuzzleIdentifiers < 1 || m.TotalGroups < 0 || m.TotalPuzzles < 0 {
			t.Fatalf("accepted out-of-range metadata %+v", m)
		}
		m2, err := ParseMetadata("again", m.MarshalReference())
		if err != nil {
			t.Fatalf("re-reading the reference rendering of accepted %+v: %v\n%s", m, err, m.MarshalReference())
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// FuzzReadShard feeds arbitrary bytes to the Parquet shard reader as a
// file, as `trm show` and `trm verify` read shards: a corrupt shard must be
// rejected with an error naming the file, never crash the process, and
// whatever is accepted must flatten to columns of one length.
func FuzzReadShard(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "ds")
	writeTestDataset(f, dir, Options{ShardBytes: 500})
	ds, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	s, _ := ds.Manifest.Split("test")
	valid, err := os.ReadFile(ds.ShardPath(s.Shards[0]))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-8])
	f.Add(valid[len(valid)/2:])
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Add([]byte("PAR1\xff\xff\xff\x7fPAR1"))
	const seqLen = 12
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(tmp, "shard.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
		sd, err := ReadShard(context.Background(), path, seqLen, mem)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			mem.AssertSize(t, 0)
			return
		}
		defer func() {
			sd.Release()
			mem.AssertSize(t, 0)
		}()
		rows, err := sd.Flatten(seqLen)
		if err != nil {
			return
		}
		if int64(rows.Len()) != sd.Table.NumRows() || len(rows.Inputs) != rows.Len()*seqLen {
			t.Fatalf("flattened %d rows (%d input bytes) from a table of %d", rows.Len(), len(rows.Inputs), sd.Table.NumRows())
		}
	})
}
