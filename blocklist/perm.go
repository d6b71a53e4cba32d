package blocklist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/recidivist/recidivist/internal/fileperm"
)

// checkFile refuses a mirror that anyone but root and the current user can
// change: whoever can write the file decides what the firewall blocks, and
// whoever can write its directory can replace the file. fi describes the file
// (the mirror itself: a symbolic link is refused before this is asked).
func checkFile(path string, fi fs.FileInfo) error {
	if fileperm.WritableByOthers(fi) {
		return fmt.Errorf("refusing %s (mode %04o): %w; fix: chmod 600 %s", path, fi.Mode().Perm(), ErrInsecure, path)
	}
	if uid, foreign := fileperm.ForeignOwner(fi); foreign {
		return fmt.Errorf("refusing %s (owned by uid %d): %w; fix: chown root %s && chmod 600 %s", path, uid, ErrInsecure, path, path)
	}
	return checkDir(filepath.Dir(path))
}

// checkDir refuses a directory others may write without the sticky bit
// (with it, as in /tmp, they cannot replace a file they do not own).
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking directory %s: %w", dir, err)
	}
	if fileperm.DirReplaceable(fi) {
		return fmt.Errorf("refusing directory %s (mode %04o): %w; fix: chmod 700 %s", dir, fi.Mode().Perm(), ErrInsecure, dir)
	}
	return nil
}
