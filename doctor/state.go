package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/recidivist/recidivist/internal/fileperm"
	"github.com/recidivist/recidivist/statedir"
)

// checkStateFiles finds a symbolic link in place of a state file (the
// mirror itself is checkMirror's): recidivist refuses to follow it, so the
// daemon does not start and commands fail until it is gone.
func (d *Doctor) checkStateFiles() {
	for _, path := range statedir.Files(d.cfg.StateDir) {
		if path == statedir.Mirror(d.cfg.StateDir) {
			continue
		}
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			d.problem(fmt.Sprintf("state file %s is a symbolic link: recidivist never follows it (it could point at any file) and refuses to use it", path),
				"rm "+path+"; if the file it points to is the one recidivist should use, move that file in its place")
		}
	}
}

// checkMirror checks that the mirror is a regular file no other user can
// write and lists each of its lines that is not in force.
func (d *Doctor) checkMirror() {
	path := statedir.Mirror(d.cfg.StateDir)
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.note("mirror: %s does not exist yet; nothing is blocked", path)
		return
	case err != nil:
		d.problem(fmt.Sprintf("mirror %s: %v", path, err), "run recidivist check as root")
		return
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		d.problem(fmt.Sprintf("mirror %s is a symbolic link: recidivist never follows it (it could point at any file), so nothing of it is in force", path),
			"rm "+path+"; if the file it points to is the blocklist to keep, move or copy that file in its place")
		return
	}
	if fileperm.WritableByOthers(fi) {
		d.problem(fmt.Sprintf("mirror %s is writable by other users (mode %v): whoever can write it decides who is blocked", path, fi.Mode().Perm()),
			"chmod 600 "+path)
		return
	}
	if d.mirrorErr != nil {
		d.problem(fmt.Sprintf("reading the mirror: %v", d.mirrorErr), "fix the file named above")
		return
	}
	for _, le := range d.mirrorBad {
		d.problem(fmt.Sprintf("mirror: %v (the line is skipped)", le), "correct or delete that line in "+path+" as said above")
	}
	if len(d.mirrorBad) == 0 {
		d.ok("mirror: %s, %d entries, no bad lines", path, len(d.mirror))
	}
}
