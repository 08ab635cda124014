//go:build unix

// Package procstat reads the process's own resource use, so benchmarks can
// report CPU time (what a run costs however busy the machine is) and peak
// memory beside wall time.
package procstat

import (
	"syscall"
	"time"
)

// CPUTime is the user plus system CPU time of the whole process (0 where
// the system does not say).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the process's peak resident set size in bytes (0 where the
// system does not say).
func PeakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss << 10 // Linux reports kilobytes
}
