// Package cuda is trm's GPU backend: the CUDA driver, cuBLAS/cuBLASLt and
// NVRTC loaded at run time with purego, so that one binary built without
// cgo (CGO_ENABLED=0 go build -o trm ./cmd/trm) runs on machines with and
// without a GPU, and needs no CUDA toolkit to build.
//
// Libraries are found by soname (CUDA 11.8 to 13) in LD_LIBRARY_PATH,
// CUDA_HOME, /usr/local/cuda*, Python wheel layouts
// (site-packages/nvidia/*/lib, in VIRTUAL_ENV, CONDA_PREFIX, environments
// whose bin/ is on PATH, ~/.local and the system's site-packages), the
// system library directories, and finally dlopen's own search; versions
// newer than the driver supports are skipped.
//
// Open makes a device's primary context current on a dedicated OS thread;
// every call runs there, in order. Device memory comes from a caching
// allocator (Alloc/Free, no cuMemAlloc in steady state); PinnedAllocator
// implements Allocator with page-locked host memory for batch buffers, and
// an Uploader copies each such batch to the device in one transfer.
//
// Kernels are CUDA C sources embedded from kernels/*.cu (with the prelude
// kernels/common.cuh; no toolkit headers), compiled by NVRTC for the
// device's architecture on first use and cached in
// os.UserCacheDir()/trm/kernels, keyed by source hash, target, NVRTC and
// driver version. GEMMs go to cuBLAS (GemmArgs: row-major, bf16 or fp32
// inputs, fp32 accumulation, strided-batched).
//
// Check is `trm gpu check`: it compares every kernel and GEMM with the
// plain Go references in ref.go and measures copy and GEMM throughput.
//
// Without a GPU, the tests run all of this against internal/fakecuda: a
// host-memory driver and cuBLAS, with the embedded kernels compiled for the
// host from the same sources (see README.md).
package cuda
