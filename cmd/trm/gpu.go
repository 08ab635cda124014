package main

import (
	"os"

	"github.com/tinyrecursion/trm/kernels/cuda"
)

// gpuCmd groups the GPU commands.
type gpuCmd struct {
	Check gpuCheckCmd `cmd:"" help:"Verify the CUDA backend on this machine: libraries, device, allocator, copy bandwidth, every kernel and GEMM against the CPU, GEMM TFLOP/s."`
}

type gpuCheckCmd struct {
	Device   int    `help:"CUDA device ordinal." default:"0"`
	Seed     uint64 `help:"Seed of the random inputs." default:"1"`
	Tokens   int    `help:"Rows of the TRM GEMM shapes (0: one ARC batch, 768x916)." default:"0"`
	NoBench  bool   `help:"Skip the timed parts (copy bandwidth, GEMM TFLOP/s)."`
	CacheDir string `help:"Compiled-kernel cache (default: the user cache dir/trm/kernels)." type:"path"`
	NoCache  bool   `help:"Compile every kernel; read and write no cache."`
}

func (c *gpuCheckCmd) Run(g *globals) error {
	return cuda.Check(g.ctx, os.Stdout, cuda.CheckOptions{
		Device: c.Device, Seed: c.Seed, Tokens: c.Tokens, NoBench: c.NoBench,
		CacheDir: c.CacheDir, NoCache: c.NoCache,
	})
}
