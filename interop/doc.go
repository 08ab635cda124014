// Package interop converts whole trm datasets to and from other layouts:
//
//   - ExportNPY writes the reference's NumPy layout
//     (OUT/<split>/all__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy,
//     <split>/dataset.json, identifiers.json, test_puzzles.json), byte for
//     byte what the reference builders write, so the reference PyTorch
//     trainer reads a trm dataset unchanged and sha256 sums can be compared.
//   - ImportNPY is the reverse: it validates a reference-built directory
//     array by array and writes it as a trm dataset.
//   - ExportArrow writes one Arrow IPC file per split whose inputs and labels
//     use the canonical arrow.fixed_shape_tensor extension type, so that
//     pyarrow's to_numpy_ndarray() returns [rows, H, W] tensors.
//
// The package dataset stays the on-disk contract (schema, manifest, .npy
// encoding); this package only moves rows between layouts. Every conversion
// streams (exports in record batches of a few thousand rows, the import
// group by group), so memory does not grow with the dataset, and every
// output appears atomically: it is assembled in a hidden sibling directory
// and renamed into place when complete.
package interop
