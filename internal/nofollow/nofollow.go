// Package nofollow opens the files of recidivist's state directory without
// ever following a symbolic link in their place.
//
// The state directory holds what decides the firewall (the mirror, the
// watcher's state, the lock); a link put there could make a root process
// read, log or overwrite any file on the system (/etc/shadow, a cron job).
// So a link is refused with the fix, whatever it points to. A link to the
// state directory itself is fine: only the last component is checked.
package nofollow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrSymlink means a state file is a symbolic link and was refused.
var ErrSymlink = errors.New("is a symbolic link, which recidivist never follows in its state directory")

// Open opens name for reading, refusing a symbolic link.
func Open(name string) (*os.File, error) { return OpenFile(name, os.O_RDONLY, 0) }

// OpenFile is os.OpenFile that refuses a symbolic link at name (wrapping
// ErrSymlink, with the fix) instead of following it.
func OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NOFOLLOW, perm)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		if rerr := Check(name); rerr != nil {
			return nil, rerr
		}
	}
	return f, err
}

// Check returns an error wrapping ErrSymlink if name is a symbolic link, and
// nil otherwise (also when name does not exist or cannot be examined: the
// operation that follows reports that).
func Check(name string) error {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	return Refusal(name)
}

// Refusal is the error for a symbolic link at name: what is wrong and the
// fix. It never shows what the link points to, which may be a secret's name.
func Refusal(name string) error {
	return fmt.Errorf("refusing %s: it %w; remove the link (rm %s) and, if the file it points to is one recidivist should use, move or copy that file in its place", name, ErrSymlink, name)
}
