//go:build !unix

package loader

import "time"

// cpuTime is unavailable here; CPU figures then read zero.
func cpuTime() time.Duration { return 0 }
