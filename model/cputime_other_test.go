//go:build !unix

package model

func processCPUSeconds() float64 { return 0 }
