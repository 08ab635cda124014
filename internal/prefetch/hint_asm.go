//go:build amd64 || arm64

package prefetch

// hint issues a prefetch for each of lines cache lines from addr.
func hint(addr, lines uintptr)
