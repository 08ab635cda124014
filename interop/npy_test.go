package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/dataset"
)

// roundTrip exports ds to npy, imports the export, and checks that the
// import equals ds in every column (aug only where keepAug: the reference
// layout records transforms only in ARC puzzle names) and in its metadata
// files; then that exporting the import reproduces the first export byte
// for byte.
func roundTrip(t *testing.T, td testDataset, keepAug bool, wantDtypes map[string]string) {
	tmp := t.TempDir()
	ds := td.write(t, filepath.Join(tmp, "ds"))
	ctx := context.Background()
	ref := filepath.Join(tmp, "ref")
	reps, err := ExportNPY(ctx, ds, ref, NPYExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Dtype != wantDtypes[r.Name] {
			t.Errorf("split %s exported as %s, want %s", r.Name, r.Dtype, wantDtypes[r.Name])
		}
		h, _, err := dataset.ReadNPY(filepath.Join(ref, r.Name, "all__inputs.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{DtypeUint8: dataset.NPYUint8, DtypeInt64: dataset.NPYInt64}[wantDtypes[r.Name]]; h.Descr != want {
			t.Errorf("split %s inputs have dtype %s, want %s", r.Name, h.Descr, want)
		}
	}

	back := filepath.Join(tmp, "back")
	irep, err := ImportNPY(ctx, ref, back, NPYImportOptions{ShardBytes: 30000})
	if err != nil {
		t.Fatal(err)
	}
	if len(irep.Warnings) > 0 {
		t.Errorf("warnings: %v", irep.Warnings)
	}
	ds2 := openDataset(t, back)
	if ds2.Manifest.Builder.Name != ImportBuilder {
		t.Errorf("builder %q", ds2.Manifest.Builder.Name)
	}
	if len(ds2.Manifest.Splits) != len(ds.Manifest.Splits) {
		t.Fatalf("%d splits imported, want %d", len(ds2.Manifest.Splits), len(ds.Manifest.Splits))
	}
	for i, s := range ds.Manifest.Splits {
		s2 := ds2.Manifest.Splits[i]
		if s2.Name != s.Name || s2.Rows != s.Rows || s2.Puzzles != s.Puzzles || s2.Groups != s.Groups || s2.GridShape != s.GridShape {
			t.Errorf("split %d: imported %s %d rows %d puzzles %d groups grid %v, want %s %d %d %d %v",
				i, s2.Name, s2.Rows, s2.Puzzles, s2.Groups, s2.GridShape, s.Name, s.Rows, s.Puzzles, s.Groups, s.GridShape)
		}
		for _, f := range []string{filepath.Join(s.Name, FileMetadata)} {
			assertSameFile(t, filepath.Join(ds.Dir, f), filepath.Join(back, f))
		}
		want, got := splitRows(t, ds, s.Name), splitRows(t, ds2, s.Name)
		if !slices.Equal(got.Inputs, want.Inputs) || !slices.Equal(got.Labels, want.Labels) {
			t.Errorf("split %s: tokens differ after the round trip", s.Name)
		}
		if !slices.Equal(got.Identifiers, want.Identifiers) || !slices.Equal(got.Puzzles, want.Puzzles) ||
			!slices.Equal(got.Groups, want.Groups) || !slices.Equal(got.Sets, want.Sets) {
			t.Errorf("split %s: index columns differ after the round trip", s.Name)
		}
		wantAugs := want.Augs
		if !keepAug {
			wantAugs = make([]string, len(want.Augs))
		}
		if !slices.Equal(got.Augs, wantAugs) {
			t.Errorf("split %s: aug column %q..., want %q...", s.Name, got.Augs[:min(3, len(got.Augs))], wantAugs[:min(3, len(wantAugs))])
		}
	}
	for _, f := range []string{FileIdentifiers, FileTestPuzzles} {
		assertSameFile(t, filepath.Join(ds.Dir, f), filepath.Join(back, f))
	}

	again := filepath.Join(tmp, "again")
	if _, err := ExportNPY(ctx, ds2, again, NPYExportOptions{}); err != nil {
		t.Fatal(err)
	}
	h1, h2 := fileHashes(t, ref), fileHashes(t, again)
	if fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Errorf("export of the import differs from the first export:\n%v\n%v", h1, h2)
	}
}

// assertSameFile checks that two files have the same bytes, or both are
// absent.
func assertSameFile(t *testing.T, want, got string) {
	t.Helper()
	a, errA := os.ReadFile(want)
	b, errB := os.ReadFile(got)
	if os.IsNotExist(errA) && os.IsNotExist(errB) {
		return
	}
	if errA != nil || errB != nil {
		t.Errorf("%s: %v; %s: %v", want, errA, got, errB)
		return
	}
	if string(a) != string(b) {
		t.Errorf("%s differs from %s:\n%s\n%s", got, want, b, a)
	}
}

// TestRoundTripSudoku covers the int64 path: an augmented Sudoku train
// split is exported as int64 (quirk Q-S3), the test split as uint8, and the
// import remembers both.
func TestRoundTripSudoku(t *testing.T) {
	roundTrip(t, sudokuLike(40, 3, 9, 1), false, map[string]string{"train": DtypeInt64, "test": DtypeUint8})
}

func TestRoundTripARC(t *testing.T) {
	roundTrip(t, arcLike(6, 4, 1), true, map[string]string{"train": DtypeUint8, "test": DtypeUint8})
}

// TestExportDtypeOption: an explicit dtype overrides the reference's choice
// and holds the same values.
func TestExportDtypeOption(t *testing.T) {
	tmp := t.TempDir()
	ds := sudokuLike(5, 2, 3, 4).write(t, filepath.Join(tmp, "ds"))
	for _, dtype := range []string{DtypeUint8, DtypeInt64} {
		out := filepath.Join(tmp, dtype)
		if _, err := ExportNPY(context.Background(), ds, out, NPYExportOptions{Dtype: dtype}); err != nil {
			t.Fatal(err)
		}
		for _, split := range []string{"train", "test"} {
			want := splitRows(t, ds, split)
			h, payload, err := dataset.ReadNPY(filepath.Join(out, split, "all__labels.npy"))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if dtype == DtypeUint8 {
				got, err = dataset.DecodeNPY[uint8](h, payload)
			} else {
				var wide []int64
				wide, err = dataset.DecodeNPY[int64](h, payload)
				for _, v := range wide {
					got = append(got, byte(v))
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want.Labels) {
				t.Errorf("%s %s: labels differ", dtype, split)
			}
		}
	}
	if _, err := ExportNPY(context.Background(), ds, filepath.Join(tmp, "x"), NPYExportOptions{Dtype: "int16"}); err == nil {
		t.Error("dtype int16 accepted")
	}
}

// TestExportForce: an existing output is replaced only with Force, and
// never when it holds files an export does not write.
func TestExportForce(t *testing.T) {
	tmp := t.TempDir()
	ds := sudokuLike(2, 1, 1, 5).write(t, filepath.Join(tmp, "ds"))
	ctx := context.Background()
	out := filepath.Join(tmp, "out")
	if _, err := ExportNPY(ctx, ds, out, NPYExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportNPY(ctx, ds, out, NPYExportOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second export without force: %v", err)
	}
	if _, err := ExportNPY(ctx, ds, out, NPYExportOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportNPY(ctx, ds, out, NPYExportOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("force over a foreign file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Fatal("the foreign file is gone")
	}
	left, _ := filepath.Glob(filepath.Join(tmp, ".out.*"))
	if len(left) > 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
}

func TestGridShapeOf(t *testing.T) {
	for seqLen, want := range map[int][2]int{900: {30, 30}, 81: {9, 9}, 16: {4, 4}, 1: {1, 1}, 12: {1, 12}, 899: {1, 899}, 1 << 20: {1024, 1024}} {
		if got := GridShapeOf(seqLen); got != want {
			t.Errorf("GridShapeOf(%d) = %v, want %v", seqLen, got, want)
		}
	}
}

func TestAugOf(t *testing.T) {
	for name, want := range map[string]string{"8be77c9e|||t7|||0612397845": "t7|||0612397845", "8be77c9e": "", "<blank>": "", "a|||": ""} {
		if got := augOf(name); got != want {
			t.Errorf("augOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestExportCancel: cancelling mid-export returns the context's error and
// leaves neither the output nor a staging directory.
func TestExportCancel(t *testing.T) {
	tmp := t.TempDir()
	ds := arcLike(6, 4, 17).write(t, filepath.Join(tmp, "ds"))
	for _, export := range []func(context.Context, string, func(int)) error{
		func(ctx context.Context, out string, p func(int)) error {
			_, err := ExportNPY(ctx, ds, out, NPYExportOptions{Progress: p})
			return err
		},
		func(ctx context.Context, out string, p func(int)) error {
			_, err := ExportArrow(ctx, ds, out, ArrowExportOptions{Progress: p})
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		out := filepath.Join(tmp, "out")
		err := export(ctx, out, func(int) { cancel() })
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		left, _ := filepath.Glob(filepath.Join(tmp, "*out*"))
		hidden, _ := filepath.Glob(filepath.Join(tmp, ".out*"))
		if len(left)+len(hidden) > 0 {
			t.Errorf("left behind: %v %v", left, hidden)
		}
	}
}
