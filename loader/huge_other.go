//go:build unix && !linux

package loader

// mapPopulate: the flag is Linux-only.
const mapPopulate = 0

// adviseHuge does nothing where transparent huge pages are not offered.
func adviseHuge([]byte) {}
