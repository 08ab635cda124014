// Package atomicdir publishes output directories atomically: a command
// assembles its output in a hidden sibling directory and only a rename makes
// it appear, so an interrupted run never leaves something that looks
// complete. Dataset builds, exports and imports all go through it.
package atomicdir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Stage creates the hidden sibling directory ".<base>.partial-*" in which
// the output for dir is assembled (creating dir's parent if needed).
func Stage(dir string) (string, error) {
	parent, base := filepath.Split(filepath.Clean(dir))
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".partial-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

// Swap renames tmp to dir. An existing dir is first moved aside and deleted
// only once the new one is in place (the caller has checked it may go); if
// the final rename fails, the old one is put back.
func Swap(tmp, dir string) error {
	var old string
	if _, err := os.Stat(dir); err == nil {
		parent, base := filepath.Split(dir)
		if parent == "" {
			parent = "."
		}
		old, err = os.MkdirTemp(parent, "."+base+".old-")
		if err != nil {
			return err
		}
		if err := os.Remove(old); err != nil {
			return err
		}
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if err := SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// SyncDir fsyncs a directory, making renames and new entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// WriteFile writes a small file and syncs it.
func WriteFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
