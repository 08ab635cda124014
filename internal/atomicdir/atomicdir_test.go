package atomicdir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := WriteFileAtomic(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A write that fails half way leaves the old file, and nothing else.
	boom := errors.New("boom")
	err := ReplaceFile(path, func(w io.Writer) error {
		w.Write([]byte("partial new content"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ReplaceFile returned %v, want the write's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("after a failed replace the file holds %q", got)
	}
	if err := WriteFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("after a replace the file holds %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left beside the output: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	// A full disk under the temporary file is reported as path's.
	err = ReplaceFile(path, func(w io.Writer) error {
		return &os.PathError{Op: "write", Path: w.(*os.File).Name(), Err: syscall.ENOSPC}
	})
	if want := "write " + path + ": no space left on device"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestStagedError(t *testing.T) {
	tmp, dir := filepath.Join("out", ".ds.partial-1"), filepath.Join("out", "ds")
	inside := &os.PathError{Op: "write", Path: filepath.Join(tmp, "train", "part-00000.parquet"), Err: syscall.ENOSPC}
	wrapped := fmt.Errorf("unknown error type: %w", inside)
	err := StagedError(wrapped, tmp, dir)
	if want := "write " + filepath.Join(dir, "train", "part-00000.parquet") + ": no space left on device"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Error("the system's reason is lost")
	}
	outside := fmt.Errorf("x: %w", &os.PathError{Op: "open", Path: "elsewhere", Err: syscall.ENOENT})
	if got := StagedError(outside, tmp, dir); got != outside {
		t.Errorf("an error outside the staging directory became %v", got)
	}
	if StagedError(nil, tmp, dir) != nil {
		t.Error("nil became an error")
	}
}
