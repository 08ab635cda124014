//go:build unix

package loader

import (
	"syscall"
	"time"
)

// cpuTime is the user plus system CPU time of the whole process: what a
// benchmark costs regardless of how much of the machine others use.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
