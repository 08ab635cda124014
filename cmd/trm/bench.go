package main

// benchCmd groups the benchmarks.
type benchCmd struct {
	Loader benchLoaderCmd `cmd:"" help:"Loader throughput at a global batch: decoded Parquet and mapped IPC cache against a plain gather baseline."`
}
