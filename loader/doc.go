// Package loader feeds training and evaluation with batches from trm
// datasets (DESIGN.md section 3), reproducing the reference
// puzzle_dataset.py sampling (spec/reference-loader-eval.md section 1).
//
// A Source is one or several datasets' split opened in memory: Parquet shards
// decoded into Arrow buffers, or the uncompressed Arrow IPC cache beside the
// dataset memory-mapped without copying (BuildCache). In both, a row's input
// tokens, label tokens and puzzle identifier sit next to each other (one
// fixed-size binary column of 2*seq_len+4 bytes), so gathering a row touches
// one contiguous range, and the gatherers ask the CPU for the rows ahead of
// the one they copy (internal/prefetch). A
// Loader draws batches from a Source with one of three samplers: the
// reference training sampler, evaluation in storage order with the last batch
// padded, or a plain shuffle. Every rank of a data-parallel job builds its own
// Loader; ranks either slice the same global batch (the reference) or read
// disjoint shards (shard-local mode).
//
// Batches keep tokens as uint8. Each batch lives in one buffer from an
// Allocator (inputs, labels, identifiers, puzzle and example indices, each
// 64-byte aligned), rows are gathered into it straight from the Arrow
// buffers, and buffers are recycled through a pool while background
// goroutines assemble the next batches. Loader.State is a small value that
// Restore turns back into exactly the same continuation.
package loader
