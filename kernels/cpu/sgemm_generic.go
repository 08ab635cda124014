//go:build !amd64 || purego

package cpu

func sgemmKernels() []*sgemmKernel { return []*sgemmKernel{kernelGeneric} }
