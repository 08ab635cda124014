//go:build unix && !linux

package loader

// adviseHuge does nothing where transparent huge pages are not offered.
func adviseHuge([]byte) {}
