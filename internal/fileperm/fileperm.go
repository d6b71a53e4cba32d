// Package fileperm is recidivist's one policy on who may change the files it
// trusts (the config file, the mirror, the state files and their
// directories): whoever can write such a file decides what the firewall
// blocks, so a file that users other than its owner can write is refused;
// and a secret that anyone but its owner can read is refused.
package fileperm

import (
	"io/fs"
	"os"
	"syscall"
)

// WritableByOthers reports whether fi's group or other users may write it.
func WritableByOthers(fi fs.FileInfo) bool { return fi.Mode().Perm()&0o022 != 0 }

// OpenToOthers reports whether fi's group or other users may read, write
// or run it at all: the test for a file holding a secret (a token), which
// only its owner may even read.
func OpenToOthers(fi fs.FileInfo) bool { return fi.Mode().Perm()&0o077 != 0 }

// DirReplaceable reports whether users other than the owner of directory fi
// may replace the files in it: it is writable by them and lacks the sticky
// bit (with it, as in /tmp, they cannot replace a file they do not own).
func DirReplaceable(fi fs.FileInfo) bool {
	return WritableByOthers(fi) && fi.Mode()&fs.ModeSticky == 0
}

// ForeignOwner returns the owner of fi and true when it is neither root nor
// this process's effective user.
func ForeignOwner(fi fs.FileInfo) (uid uint32, foreign bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, st.Uid != 0 && int(st.Uid) != os.Geteuid()
}
