package loader

import "syscall"

// adviseHuge asks for transparent huge pages; where the kernel refuses,
// the memory simply keeps normal pages.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
