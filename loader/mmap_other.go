//go:build !unix

package loader

import "os"

// mapFile reads the file into memory where mmap is unavailable.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// allocLarge returns n bytes of Go heap memory.
func allocLarge(n int) ([]byte, func() error, error) {
	return make([]byte, n), func() error { return nil }, nil
}
