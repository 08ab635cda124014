//go:build !amd64 || purego

package cpu

func fmaPeakLoops() []fmaPeakLoop { return nil }
