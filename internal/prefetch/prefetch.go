// Package prefetch hints the CPU to bring memory into its caches ahead of
// use. Gathering rows at random addresses waits on main memory for every
// row; issuing the loads of the next rows while copying the current one
// overlaps those waits. The hints never fault and change no results.
package prefetch

import "unsafe"

// LineSize is the cache line size the hints are issued at.
const LineSize = 64

// Range hints that the bytes [p, p+n) will be read soon. It issues one hint
// per cache line, for at most maxLines lines: the hardware's stream
// prefetcher follows a long row once its first lines have been requested.
func Range(p unsafe.Pointer, n uintptr) {
	if n == 0 {
		return
	}
	hint(span(uintptr(p), n))
}

// span returns the first cache line of [addr, addr+n) (n > 0) and the
// number of lines to hint, at most maxLines.
func span(addr, n uintptr) (first, lines uintptr) {
	first = addr &^ (LineSize - 1)
	lines = (addr+n-1)/LineSize - addr/LineSize + 1
	return first, min(lines, maxLines)
}

// maxLines caps the hints per call (see Range).
const maxLines = 8
