//go:build !amd64 && !arm64

package prefetch

// hint does nothing where no prefetch instruction is wired up: the hints
// only change speed.
func hint(addr, lines uintptr) {}
