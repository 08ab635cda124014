//go:build unix

package model

import "syscall"

// processCPUSeconds is the user+system CPU time of this process, for a
// benchmark figure that does not depend on how busy the machine is.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
