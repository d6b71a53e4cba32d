package blocklist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkFile refuses a mirror that anyone but root and the current user can
// change: whoever can write the file decides what the firewall blocks, and
// whoever can write its directory can replace the file. fi describes the file
// (the mirror itself: a symbolic link is refused before this is asked).
func checkFile(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing %s (mode %04o): %w; fix: chmod 600 %s", path, fi.Mode().Perm(), ErrInsecure, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refusing %s (owned by uid %d): %w; fix: chown root %s && chmod 600 %s", path, st.Uid, ErrInsecure, path, path)
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
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("refusing directory %s (mode %04o): %w; fix: chmod 700 %s", dir, fi.Mode().Perm(), ErrInsecure, dir)
	}
	return nil
}
