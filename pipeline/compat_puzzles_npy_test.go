package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/interop"
	"github.com/tinyrecursion/trm/pipeline"
)

// TestPuzzleCompatNPY is the end-to-end check of --compat numpy on Sudoku
// and Maze: every builder run of spec/sudoku-maze-builder-golden.json is
// built from its CSVs with its seed, exported with `trm export npy`'s
// ExportNPY, and each file must be the reference's: the sha256 of every
// .npy file as numpy's np.save wrote it (dtypes included: the augmented
// Sudoku train split is int64), and dataset.json and identifiers.json text.
// (It lives in package pipeline_test because interop's tests build datasets
// with pipeline.)
func TestPuzzleCompatNPY(t *testing.T) {
	raw, err := os.ReadFile("testdata/sudoku-maze-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		InputCSVs map[string]string `json:"input_csvs"`
		Runs      map[string]struct {
			Seed   int64 `json:"np_random_seed_before_build"`
			Config struct {
				Subsample     int  `json:"subsample_size"`
				NumAug        int  `json:"num_aug"`
				MinDifficulty *int `json:"min_difficulty"`
				Aug           bool `json:"aug"`
			} `json:"config"`
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, run := range golden.Runs {
		if run.Outputs == nil {
			continue
		}
		checked++
		t.Run(name, func(t *testing.T) {
			kind, _, _ := strings.Cut(name, "_")
			in := t.TempDir()
			for _, split := range []string{"train", "test"} {
				if err := os.WriteFile(filepath.Join(in, split+".csv"), []byte(golden.InputCSVs[kind+"_"+split+".csv"]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tmp := t.TempDir()
			dir := filepath.Join(tmp, "ds")
			o := pipeline.Output{Dir: dir, Quiet: true}
			var err error
			if kind == "sudoku" {
				_, err = pipeline.BuildSudoku(context.Background(), pipeline.SudokuConfig{
					Input: in, Subsample: run.Config.Subsample, MinDifficulty: run.Config.MinDifficulty,
					Aug: run.Config.NumAug, Seed: run.Seed, Compat: pipeline.CompatNumpy,
				}, o)
			} else {
				_, err = pipeline.BuildMaze(context.Background(), pipeline.MazeConfig{
					Input: in, Subsample: run.Config.Subsample, Aug: run.Config.Aug, Seed: run.Seed, Compat: pipeline.CompatNumpy,
				}, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			npyDir := filepath.Join(tmp, "npy")
			if _, err := interop.ExportNPY(context.Background(), ds, npyDir, interop.NPYExportOptions{}); err != nil {
				t.Fatal(err)
			}

			want := map[string]string{} // path in the export -> sha256 or text
			var ids string
			if err := json.Unmarshal(run.Outputs["identifiers.json"], &ids); err != nil {
				t.Fatal(err)
			}
			want["identifiers.json"] = ids
			for _, split := range []string{"train", "test"} {
				var files map[string]json.RawMessage
				if err := json.Unmarshal(run.Outputs[split], &files); err != nil {
					t.Fatal(err)
				}
				for file, v := range files {
					if file == "dataset.json" {
						var text string
						if err := json.Unmarshal(v, &text); err != nil {
							t.Fatal(err)
						}
						want[split+"/"+file] = text
						continue
					}
					var a struct {
						SHA256 string `json:"sha256_of_npy_file"`
					}
					if err := json.Unmarshal(v, &a); err != nil || len(a.SHA256) != 64 {
						t.Fatalf("%s/%s: no sha256 in the golden (%v)", split, file, err)
					}
					want[split+"/"+file] = a.SHA256
				}
			}
			var got []string
			filepath.WalkDir(npyDir, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(npyDir, path)
					got = append(got, filepath.ToSlash(rel))
				}
				return err
			})
			sort.Strings(got)
			if len(got) != len(want) {
				t.Errorf("export holds %v, want the %d files of the reference", got, len(want))
			}
			for rel, w := range want {
				data, err := os.ReadFile(filepath.Join(npyDir, rel))
				if err != nil {
					t.Error(err)
					continue
				}
				g := string(data)
				if strings.HasSuffix(rel, ".npy") {
					sum := sha256.Sum256(data)
					g = hex.EncodeToString(sum[:])
				}
				if g != w {
					t.Errorf("%s: got %s, want %s", rel, g, w)
				}
			}
		})
	}
	if checked != 4 {
		t.Fatalf("golden has %d builder runs, want 4", checked)
	}
}
