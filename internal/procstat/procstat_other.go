//go:build !unix

// Package procstat reads the process's own resource use; on this system it
// is not available and every figure reads zero.
package procstat

import "time"

// CPUTime is unavailable here.
func CPUTime() time.Duration { return 0 }

// PeakRSS is unavailable here.
func PeakRSS() int64 { return 0 }
