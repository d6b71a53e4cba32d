// Package atomicfile writes files so that a reader, or the machine after a
// crash, sees either the old content or the new one, never half of either.
//
// It owns only the write protocol (temp file in the same directory, fsync,
// rename over the target, fsync the directory); it does not lock: two
// writers of the same file race and the last rename wins.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/recidivist/recidivist/internal/nofollow"
)

// ErrNotRegular is returned when the target exists and is not a regular file
// (a directory, a device, a FIFO, a symbolic link): replacing it would be a
// surprise. For a symbolic link the error wraps nofollow.ErrSymlink too.
var ErrNotRegular = errors.New("target is not a regular file")

// WriteFile atomically replaces filename with data, created with mode perm
// (the mode is set explicitly, the umask does not apply). On error the
// target is left untouched and the temp file is removed.
func WriteFile(filename string, data []byte, perm os.FileMode) error {
	return Write(filename, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces filename with whatever fill writes, with mode
// perm. fill writes into a buffered writer over a temp file in the same
// directory; if fill returns an error nothing is replaced and that error is
// returned wrapped.
func Write(filename string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	if fi, statErr := os.Lstat(filename); statErr == nil && !fi.Mode().IsRegular() {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("writing %s: %w: %w", filename, ErrNotRegular, nofollow.Refusal(filename))
		}
		return fmt.Errorf("writing %s: %w", filename, ErrNotRegular)
	}
	dir := filepath.Dir(filename)
	f, err := os.CreateTemp(dir, "."+filepath.Base(filename)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", filename, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			// Best effort: the temp file is garbage either way; the error that
			// matters is the one already being returned.
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return fmt.Errorf("writing %s: %w", filename, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filename); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, filename, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return nil
}

// syncDir makes the rename durable: without it a crash can bring back the
// old directory entry even though the new file's data reached the disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
