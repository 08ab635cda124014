// Package atomicdir publishes outputs atomically: a command assembles an
// output directory in a hidden sibling directory, or a file in a hidden
// temporary file beside it, and only a rename makes it appear, so an
// interrupted run never leaves something that looks complete. Dataset
// builds, exports, imports, checkpoints, run files and caches all go
// through it.
package atomicdir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// StagedError reports a failed file operation inside the staging
// directory tmp (disk full, file size limit, I/O error) under the name the
// file was to have in dir, with the system's reason: the staging directory
// is removed on abort, so its path would point nowhere, and libraries wrap
// the reason in their own words (arrow-go's column writers: "unknown error
// type"). Other errors pass unchanged.
func StagedError(err error, tmp, dir string) error {
	var pe *fs.PathError
	if err == nil || tmp == "" || !errors.As(err, &pe) {
		return err
	}
	rel, rerr := filepath.Rel(tmp, pe.Path)
	if rerr != nil || !filepath.IsLocal(rel) {
		return err
	}
	return fmt.Errorf("%s %s: %w", pe.Op, filepath.Join(dir, rel), pe.Err)
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

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed over path, so that readers see the old
// file or the whole new one, even if the process dies mid-write. Its error
// names path.
func WriteFileAtomic(path string, data []byte) error {
	return ReplaceFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// ReplaceFile is WriteFileAtomic for content that write streams out.
func ReplaceFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+"*")
	if err != nil {
		return replaceError(err, path)
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return replaceError(err, path)
	}
	// Making the rename durable is not supported on every file system;
	// it is done either way.
	_ = SyncDir(filepath.Dir(path))
	return nil
}

// tempPrefix is the name of path's temporary files, hidden beside it.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp" }

// replaceError names path once, as the file the caller asked for: a
// failure on its temporary file (a full disk, most often) is reported as
// a failure on path itself.
func replaceError(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && filepath.Dir(pe.Path) == filepath.Dir(path) && strings.HasPrefix(filepath.Base(pe.Path), tempPrefix(path)) {
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	return fmt.Errorf("%s: %w", path, err)
}
