//go:build unix

package loader

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a file read-only; the pages are shared with the page cache,
// so every process on a host that maps the same cache uses one copy. The
// mapping is populated up front where the system allows: batches touch
// rows at random, and taking one page fault per 4 KiB page during the first
// pass instead costs several times more than the kernel's bulk mapping.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, nil, fmt.Errorf("loader: cache file %s is empty: %w", path, errStale)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED|mapPopulate)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: mmap %s: %w", path, err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// allocLarge returns n bytes of anonymous memory, asking for transparent
// huge pages: first-touch page faults dominate filling fresh memory, and a
// 2 MiB page takes one fault where 4 KiB pages take 512.
func allocLarge(n int) ([]byte, func() error, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("mapping %d bytes: %w", n, err)
	}
	adviseHuge(b)
	return b, func() error { return syscall.Munmap(b) }, nil
}
