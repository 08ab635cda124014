package interop

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// debianPython is the interpreter with numpy (the python3 on PATH may lack
// it).
const debianPython = "/usr/bin/python3"

// numpyLoad loads .npy files with numpy and returns, per file, dtype,
// shape and the values in C order.
func numpyLoad(t *testing.T, paths []string) map[string]numpyArray {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("%s not found; install python3-numpy to cross-check with numpy", debianPython)
	}
	const script = `
import json, sys
import numpy as np
out = {}
for p in sys.argv[1:]:
    a = np.load(p)  # allow_pickle defaults to False: plain arrays only
    out[p] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}
json.dump(out, sys.stdout)
`
	cmd := exec.Command(debianPython, append([]string{"-c", script}, paths...)...)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			if exec.Command(debianPython, "-c", "import numpy").Run() != nil {
				t.Skipf("%s has no numpy", debianPython)
			}
		}
		t.Fatal(err)
	}
	var out map[string]numpyArray
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type numpyArray struct {
	Dtype  string  `json:"dtype"`
	Shape  []int   `json:"shape"`
	Values []int64 `json:"values"`
}

// TestExportNPYLoadsInNumpy: numpy loads every exported array, with the
// reference's dtypes and shapes, and its content equals the Parquet rows.
func TestExportNPYLoadsInNumpy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		td     testDataset
		dtypes map[string]string
	}{
		{"sudoku", sudokuLike(12, 2, 4, 7), map[string]string{"train": "int64", "test": "uint8"}},
		{"arc", arcLike(3, 2, 7), map[string]string{"train": "uint8", "test": "uint8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ds := tc.td.write(t, filepath.Join(tmp, "ds"))
			out := filepath.Join(tmp, "npy")
			if _, err := ExportNPY(context.Background(), ds, out, NPYExportOptions{}); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, s := range ds.Manifest.Splits {
				for _, f := range npyFields {
					paths = append(paths, filepath.Join(out, s.Name, npyName(f)))
				}
			}
			got := numpyLoad(t, paths)
			for _, s := range ds.Manifest.Splits {
				rows := splitRows(t, ds, s.Name)
				seqLen := rows.SeqLen
				var ids, pidx, gidx []int64
				for r := range rows.Len() {
					if r == 0 || rows.Puzzles[r] != rows.Puzzles[r-1] {
						if r == 0 || rows.Groups[r] != rows.Groups[r-1] {
							gidx = append(gidx, int64(len(ids)))
						}
						pidx = append(pidx, int64(r))
						ids = append(ids, int64(rows.Identifiers[r]))
					}
				}
				pidx = append(pidx, int64(rows.Len()))
				gidx = append(gidx, int64(len(ids)))
				want := map[string]numpyArray{
					"inputs":             {tc.dtypes[s.Name], []int{rows.Len(), seqLen}, widen(rows.Inputs)},
					"labels":             {tc.dtypes[s.Name], []int{rows.Len(), seqLen}, widen(rows.Labels)},
					"puzzle_identifiers": {"int32", []int{len(ids)}, ids},
					"puzzle_indices":     {"int32", []int{len(pidx)}, pidx},
					"group_indices":      {"int32", []int{len(gidx)}, gidx},
				}
				for _, f := range npyFields {
					g, w := got[filepath.Join(out, s.Name, npyName(f))], want[f]
					if g.Dtype != w.Dtype || !slices.Equal(g.Shape, w.Shape) {
						t.Errorf("%s/%s: numpy reads %s %v, want %s %v", s.Name, f, g.Dtype, g.Shape, w.Dtype, w.Shape)
					}
					if !slices.Equal(g.Values, w.Values) {
						t.Errorf("%s/%s: numpy's values differ from the Parquet rows", s.Name, f)
					}
				}
			}
		})
	}
}

func widen(b []byte) []int64 {
	out := make([]int64, len(b))
	for i, v := range b {
		out[i] = int64(v)
	}
	return out
}
