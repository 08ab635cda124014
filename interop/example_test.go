package interop_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/interop"
)

// Export a dataset in the reference's NumPy layout, then import it back.
// On the command line: trm export npy DATASET OUT, trm import npy OUT DATASET2.
func ExampleExportNPY() {
	tmp, err := os.MkdirTemp("", "interop-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	// A one-split dataset of a single 2x2 puzzle.
	w, err := dataset.Create(filepath.Join(tmp, "ds"), dataset.Options{Builder: dataset.Builder{Name: "example"}})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort()
	split, err := w.CreateSplit(dataset.SplitSpec{Name: "train", VocabSize: 3, GridShape: [2]int{2, 2}})
	if err != nil {
		log.Fatal(err)
	}
	g := &dataset.Group{Inputs: []byte{1, 2, 2, 1}, Labels: []byte{2, 1, 1, 2}}
	g.AddPuzzle(1, 1, "")
	if err := split.WriteGroup(g); err != nil {
		log.Fatal(err)
	}
	meta := dataset.Metadata{IgnoreLabelID: dataset.IntPtr(0), VocabSize: 3, SeqLen: 4, NumPuzzleIdentifiers: 2,
		TotalGroups: 1, TotalPuzzles: 1, MeanPuzzleExamples: 1, Sets: []string{"all"}}
	if err := split.Close(meta); err != nil {
		log.Fatal(err)
	}
	if err := w.WriteFile("identifiers.json", []byte(`["<blank>", "p"]`)); err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	ds, err := dataset.Open(filepath.Join(tmp, "ds"))
	if err != nil {
		log.Fatal(err)
	}
	ref := filepath.Join(tmp, "ref")
	if _, err := interop.ExportNPY(context.Background(), ds, ref, interop.NPYExportOptions{}); err != nil {
		log.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(ref, "train", "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	h, payload, err := dataset.ReadNPY(filepath.Join(ref, "train", "all__inputs.npy"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Descr, h.Shape, payload)

	rep, err := interop.ImportNPY(context.Background(), ref, filepath.Join(tmp, "back"), interop.NPYImportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Splits[0].Name, rep.Splits[0].Rows, "rows")
	// Output:
	// all__group_indices.npy
	// all__inputs.npy
	// all__labels.npy
	// all__puzzle_identifiers.npy
	// all__puzzle_indices.npy
	// dataset.json
	// |u1 [1 4] [1 2 2 1]
	// train 1 rows
}
