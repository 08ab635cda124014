package interop

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/npygolden"
)

// writeGoldenArray writes a golden array with the dataset package's .npy
// writer in its dtype.
func writeGoldenArray(t *testing.T, path string, a npygolden.Array) {
	t.Helper()
	vals, err := a.Ints()
	if err != nil {
		t.Fatal(err)
	}
	switch a.Dtype {
	case "uint8":
		err = dataset.WriteNPYFile(path, a.Shape, npygolden.Convert[uint8](vals))
	case "int32":
		err = dataset.WriteNPYFile(path, a.Shape, npygolden.Convert[int32](vals))
	case "int64":
		err = dataset.WriteNPYFile(path, a.Shape, vals)
	default:
		t.Fatalf("golden dtype %q", a.Dtype)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestGoldenReferenceRoundTrip assembles the reference's output directory
// of every Sudoku and Maze run in spec/sudoku-maze-builder-golden.json from
// its values, imports it, exports the import again, and compares the sha256
// of every exported .npy with the one numpy's np.save produced, and
// dataset.json and identifiers.json with the reference's text. The Sudoku
// runs carry the int64 train split (quirk Q-S3).
func TestGoldenReferenceRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("testdata/sudoku-maze-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Runs map[string]struct {
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, run := range sortedKeys(golden.Runs) {
		outputs := golden.Runs[run].Outputs
		if outputs == nil {
			continue
		}
		t.Run(run, func(t *testing.T) {
			tmp := t.TempDir()
			ref := filepath.Join(tmp, "ref")
			want := map[string]string{} // relative path -> sha256 or text
			text := map[string]bool{}
			for _, key := range sortedKeys(outputs) {
				if key == FileIdentifiers {
					var s string
					if err := json.Unmarshal(outputs[key], &s); err != nil {
						t.Fatal(err)
					}
					want[key], text[key] = s, true
					continue
				}
				var files map[string]json.RawMessage
				if err := json.Unmarshal(outputs[key], &files); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(ref, key), 0o755); err != nil {
					t.Fatal(err)
				}
				for name, v := range files {
					rel := key + "/" + name
					if name == FileMetadata {
						var s string
						if err := json.Unmarshal(v, &s); err != nil {
							t.Fatal(err)
						}
						want[rel], text[rel] = s, true
						continue
					}
					var a npygolden.Array
					if err := json.Unmarshal(v, &a); err != nil {
						t.Fatal(err)
					}
					writeGoldenArray(t, filepath.Join(ref, key, name), a)
					want[rel] = a.SHA256
				}
			}
			for rel, v := range want {
				if text[rel] {
					if err := os.WriteFile(filepath.Join(ref, rel), []byte(v), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The assembled directory must itself be the reference's bytes.
			assertHashes(t, "assembled reference", fileHashes(t, ref), want, text, ref)

			ctx := context.Background()
			ds := filepath.Join(tmp, "ds")
			if _, err := ImportNPY(ctx, ref, ds, NPYImportOptions{}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(tmp, "out")
			if _, err := ExportNPY(ctx, openDataset(t, ds), out, NPYExportOptions{}); err != nil {
				t.Fatal(err)
			}
			assertHashes(t, "export of the import", fileHashes(t, out), want, text, out)
			checked++
		})
	}
	if checked < 4 {
		t.Errorf("only %d golden runs checked, want the 4 Sudoku and Maze runs", checked)
	}
}

// assertHashes compares a directory's files with the golden: sha256 for
// arrays, content for the JSON text files.
func assertHashes(t *testing.T, what string, got, want map[string]string, text map[string]bool, dir string) {
	t.Helper()
	for rel, w := range want {
		g, ok := got[rel]
		if !ok {
			t.Errorf("%s: %s missing", what, rel)
			continue
		}
		if text[rel] {
			data, _ := os.ReadFile(filepath.Join(dir, rel))
			if string(data) != w {
				t.Errorf("%s: %s is %q, want %q", what, rel, data, w)
			}
		} else if g != w {
			t.Errorf("%s: %s has sha256 %s, want %s", what, rel, g, w)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: unexpected file %s", what, rel)
		}
	}
}
