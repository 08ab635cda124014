// Package dataset is the on-disk contract of trm datasets (format v1, see
// DESIGN.md section 3): the Parquet schema, the reference-compatible
// dataset.json metadata, the manifest with per-shard checksums, the dataset
// card, atomic creation, reading and verification.
//
// A dataset directory holds one sub-directory per split. Each split is a
// sequence of Parquet shards; one row is one example, rows are in reference
// order (group, then puzzle, then example) and a group never spans two
// shards, so every shard can be written, verified and read on its own.
package dataset
