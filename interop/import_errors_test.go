package interop

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/npygolden"
)

// editInt32NPY rewrites an int32 .npy file with edit applied to its values.
func editInt32NPY(t *testing.T, path string, edit func([]int32)) {
	t.Helper()
	shape, vals, err := dataset.ReadNPYAs[int32](path)
	if err != nil {
		t.Fatal(err)
	}
	edit(vals)
	if err := dataset.WriteNPYFile(path, shape, vals); err != nil {
		t.Fatal(err)
	}
}

// editTokensNPY rewrites a uint8 token file with what edit returns, in
// the returned slice's dtype.
func editTokensNPY(t *testing.T, path string, edit func(shape []int, vals []byte) any) {
	t.Helper()
	shape, vals, err := dataset.ReadNPYAs[uint8](path)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	switch v := edit(shape, vals).(type) {
	case []uint8:
		werr = dataset.WriteNPYFile(path, shape, v)
	case []int32:
		werr = dataset.WriteNPYFile(path, shape, v)
	case []int64:
		werr = dataset.WriteNPYFile(path, shape, v)
	}
	if werr != nil {
		t.Fatal(werr)
	}
}

// TestImportErrors breaks one thing in a valid reference directory per case
// and checks that the import fails naming the file and the problem, and
// leaves no output behind.
func TestImportErrors(t *testing.T) {
	base := t.TempDir()
	ds := arcLike(4, 2, 9).write(t, filepath.Join(base, "ds"))
	valid := filepath.Join(base, "valid")
	if _, err := ExportNPY(context.Background(), ds, valid, NPYExportOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		file  string // relative to the reference directory
		want  string
		spoil func(t *testing.T, path string)
	}{
		{"truncated", "train/all__inputs.npy", "truncated", func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()-100); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated header", "test/all__labels.npy", "truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 20); err != nil {
				t.Fatal(err)
			}
		}},
		{"token dtype", "train/all__inputs.npy", "dtype <i4", func(t *testing.T, p string) {
			editTokensNPY(t, p, func(_ []int, v []byte) any { return npygolden.Convert[int32](widen(v)) })
		}},
		{"index dtype", "test/all__puzzle_indices.npy", "dtype <i8, want <i4", func(t *testing.T, p string) {
			shape, vals, err := dataset.ReadNPYAs[int32](p)
			if err != nil {
				t.Fatal(err)
			}
			wide := make([]int64, len(vals))
			for i, v := range vals {
				wide[i] = int64(v)
			}
			if err := dataset.WriteNPYFile(p, shape, wide); err != nil {
				t.Fatal(err)
			}
		}},
		{"labels shape", "train/all__labels.npy", "inputs are |u1 of shape", func(t *testing.T, p string) {
			editTokensNPY(t, p, func(shape []int, v []byte) any {
				shape[0]--
				return v[:len(v)-shape[1]]
			})
		}},
		{"non-monotone puzzles", "train/all__puzzle_indices.npy", "not strictly increasing at entry 2", func(t *testing.T, p string) {
			editInt32NPY(t, p, func(v []int32) { v[1], v[2] = v[2], v[1] })
		}},
		{"group indices end", "test/all__group_indices.npy", "ends at", func(t *testing.T, p string) {
			editInt32NPY(t, p, func(v []int32) { v[len(v)-1]-- })
		}},
		{"puzzle indices start", "test/all__puzzle_indices.npy", "starts at 1, want 0", func(t *testing.T, p string) {
			editInt32NPY(t, p, func(v []int32) { v[0] = 1 })
		}},
		{"identifier range", "train/all__puzzle_identifiers.npy", "entry 3: identifier 99 outside", func(t *testing.T, p string) {
			editInt32NPY(t, p, func(v []int32) { v[3] = 99 })
		}},
		{"token range", "train/all__labels.npy", "row 5 position 7: token 12 outside 0..11", func(t *testing.T, p string) {
			editTokensNPY(t, p, func(shape []int, v []byte) any {
				v[5*shape[1]+7] = 12
				return v
			})
		}},
		{"missing array", "test/all__group_indices.npy", "missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing identifiers", "identifiers.json", "missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"identifiers count", "train/dataset.json", "lists 3 names", func(t *testing.T, p string) {
			if err := os.WriteFile(filepath.Join(filepath.Dir(filepath.Dir(p)), FileIdentifiers), []byte(`["<blank>", "a", "b"]`), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"metadata groups", "test/dataset.json", "total_groups 5, but all__group_indices.npy has 4 groups", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			if err := os.WriteFile(p, []byte(strings.Replace(string(data), `"total_groups": 4`, `"total_groups": 5`, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"metadata seq_len", "train/dataset.json", "seq_len 81", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			if err := os.WriteFile(p, []byte(strings.Replace(string(data), `"seq_len": 900`, `"seq_len": 81`, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := filepath.Join(t.TempDir(), "ref")
			if err := os.CopyFS(ref, os.DirFS(valid)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(ref, tc.file)
			tc.spoil(t, path)
			out := filepath.Join(t.TempDir(), "out")
			_, err := ImportNPY(context.Background(), ref, out, NPYImportOptions{})
			if err == nil {
				t.Fatal("import succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to name %s and say %q", err, path, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output left behind: %v", err)
			}
		})
	}
}

// TestImportInt64TokenRange: int64 token arrays are range-checked too,
// negative values included.
func TestImportInt64TokenRange(t *testing.T) {
	base := t.TempDir()
	ds := sudokuLike(3, 2, 1, 3).write(t, filepath.Join(base, "ds"))
	ref := filepath.Join(base, "ref")
	if _, err := ExportNPY(context.Background(), ds, ref, NPYExportOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ref, "train", "all__inputs.npy")
	shape, vals, err := dataset.ReadNPYAs[int64](path)
	if err != nil {
		t.Fatal(err)
	}
	vals[2*81+3] = -1
	if err := dataset.WriteNPYFile(path, shape, vals); err != nil {
		t.Fatal(err)
	}
	_, err = ImportNPY(context.Background(), ref, filepath.Join(base, "out"), NPYImportOptions{})
	if err == nil || !strings.Contains(err.Error(), path+": row 2 position 3: token -1 outside 0..10") {
		t.Fatalf("error %v", err)
	}
}

// TestImportWarnsOnReformattedMetadata: a dataset.json with the reference's
// values but other formatting imports, with a warning naming the file.
func TestImportWarnsOnReformattedMetadata(t *testing.T) {
	base := t.TempDir()
	ds := sudokuLike(2, 1, 1, 19).write(t, filepath.Join(base, "ds"))
	ref := filepath.Join(base, "ref")
	if _, err := ExportNPY(context.Background(), ds, ref, NPYExportOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ref, "test", FileMetadata)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), ", ", ",\n  ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := ImportNPY(context.Background(), ref, filepath.Join(base, "out"), NPYImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], path) {
		t.Fatalf("warnings %q, want one naming %s", rep.Warnings, path)
	}
	assertSameFile(t, filepath.Join(ds.Dir, "test", FileMetadata), filepath.Join(base, "out", "test", FileMetadata))
}
