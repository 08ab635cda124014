package loader

import "syscall"

// mapPopulate pre-faults file mappings (MAP_POPULATE).
const mapPopulate = syscall.MAP_POPULATE

// adviseHuge asks for transparent huge pages; where the kernel refuses,
// the memory simply keeps normal pages.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
