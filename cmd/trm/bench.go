package main

// benchCmd groups the benchmarks.
type benchCmd struct {
	Pipeline benchPipelineCmd `cmd:"" help:"Dataset build throughput: Sudoku 1,000 x 1,000 from CSV, wall and CPU time, peak RSS, against a raw write of the same bytes."`
	Loader   benchLoaderCmd   `cmd:"" help:"Loader throughput at a global batch: decoded Parquet and mapped IPC cache against a plain gather baseline."`
	Train    benchTrainCmd    `cmd:"" help:"Training throughput (on the GPU with device=cuda): the training loop, the model step alone (the baseline), the PyTorch re-implementation of the reference, evaluation, the backend's GEMM."`
}
