package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// staging is an output directory under construction: files go into a hidden
// sibling directory that Commit renames into place, so an interrupted
// export never leaves something that looks complete.
type staging struct {
	dir, tmp string
	force    bool
	owned    func(dir string) error // reports why dir is not an output of this kind
	done     bool
}

// stage starts an output at dir. An existing non-empty dir is replaced only
// with force, and only if owned accepts it as an earlier output of the
// same kind, so that --force never deletes an unrelated directory.
func stage(dir string, force bool, owned func(dir string) error) (*staging, error) {
	dir = filepath.Clean(dir)
	s := &staging{dir: dir, force: force, owned: owned}
	if err := s.checkDestination(); err != nil {
		return nil, err
	}
	tmp, err := atomicdir.Stage(dir)
	if err != nil {
		return nil, err
	}
	s.tmp = tmp
	return s, nil
}

func (s *staging) checkDestination() error {
	entries, err := os.ReadDir(s.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if !s.force {
		return fmt.Errorf("%s already exists; pass --force to replace it", s.dir)
	}
	if err := s.owned(s.dir); err != nil {
		return fmt.Errorf("%s exists and %w; refusing to replace it", s.dir, err)
	}
	return nil
}

// explain names a failed write by the file's place in the output (see
// atomicdir.StagedError).
func (s *staging) explain(err error) error { return atomicdir.StagedError(err, s.tmp, s.dir) }

// path is where a file of the output is written before Commit.
func (s *staging) path(elem ...string) string {
	return filepath.Join(append([]string{s.tmp}, elem...)...)
}

// Abort removes everything written; after Commit it does nothing.
func (s *staging) Abort() {
	if s.done {
		return
	}
	s.done = true
	os.RemoveAll(s.tmp)
}

// Commit syncs the staged directories and renames the output into place,
// moving an old output aside first and deleting it afterwards. A context
// cancelled before the rename wins even when every row was already written:
// the user who pressed Ctrl-C during the last batch gets no output rather
// than one that appears after being told to stop.
func (s *staging) Commit(ctx context.Context) error {
	if s.done {
		return errors.New("output already committed or aborted")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := filepath.WalkDir(s.tmp, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return atomicdir.SyncDir(path)
	})
	if err != nil {
		return err
	}
	if err := s.checkDestination(); err != nil {
		return err
	}
	if err := atomicdir.Swap(s.tmp, s.dir); err != nil {
		return err
	}
	s.done = true
	return nil
}

// outFile is an output file written through a large buffer, synced when
// finished.
type outFile struct {
	path string
	f    *os.File
	*bufio.Writer
}

func createOutFile(path string) (*outFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &outFile{path: path, f: f, Writer: bufio.NewWriterSize(f, 4<<20)}, nil
}

// Finish flushes, syncs and closes the file.
func (o *outFile) Finish() error {
	if err := o.Flush(); err != nil {
		o.f.Close()
		return fmt.Errorf("%s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		o.f.Close()
		return fmt.Errorf("%s: %w", o.path, err)
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("%s: %w", o.path, err)
	}
	return nil
}

// Close closes the file without flushing, after an error (the staging
// directory is removed anyway). Closing a finished file is harmless.
func (o *outFile) Close() { o.f.Close() }
