package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/internal/nofollow"
)

// ErrLocked means another recidivist daemon holds the state directory.
var ErrLocked = errors.New("state directory is locked by another recidivist")

// Lock is an exclusive advisory lock on STATE-DIR/lock, held for the life of
// a daemon so that two daemons never share a state directory.
type Lock struct{ f *os.File }

// LockPath is the lock file of a state directory.
func LockPath(stateDir string) string { return filepath.Join(stateDir, "lock") }

// Acquire takes the lock of stateDir, creating the directory (0700) and the
// lock file (0600) if needed, and writes this process's PID into it. When
// another process holds it the error wraps ErrLocked and names that PID.
func Acquire(stateDir string) (*Lock, error) {
	if err := PrepareStateDir(stateDir); err != nil {
		return nil, err
	}
	f, err := nofollow.OpenFile(LockPath(stateDir), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, nofollow.ErrSymlink) {
		return nil, err
	}
	if err != nil {
		return nil, StateDirError(stateDir, fmt.Errorf("opening lock %s: %w", LockPath(stateDir), err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := Holder(stateDir) // best effort: the PID only improves the message
			return nil, fmt.Errorf("%w (PID %d holds %s); stop it first, e.g. systemctl stop recidivist", ErrLocked, pid, LockPath(stateDir))
		}
		return nil, fmt.Errorf("locking %s: %w", LockPath(stateDir), err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing pid to %s: %w", LockPath(stateDir), err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing pid to %s: %w", LockPath(stateDir), err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. The file stays, so its inode is stable.
func (l *Lock) Release() error { return l.f.Close() }

// Holder reports the PID of the daemon holding stateDir's lock, or 0 when no
// daemon runs there.
func Holder(stateDir string) (int, error) {
	f, err := nofollow.Open(LockPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if errors.Is(err, nofollow.ErrSymlink) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("opening lock %s: %w", LockPath(stateDir), err)
	}
	defer f.Close()
	// A shared, non-blocking try: if it succeeds nobody holds the exclusive lock.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		return 0, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, fmt.Errorf("reading lock %s: %w", LockPath(stateDir), err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1, nil // held, but the PID is not written yet
	}
	return pid, nil
}

// PrepareStateDir creates stateDir (0700) if needed and checks that this
// process can write in it, so that a daemon finds out before it touches the
// kernel. The error names the key state-dir and the fix.
func PrepareStateDir(stateDir string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return StateDirError(stateDir, fmt.Errorf("creating state dir %s: %w", stateDir, err))
	}
	if err := unix.Access(stateDir, unix.W_OK); err != nil {
		return StateDirError(stateDir, fmt.Errorf("writing in state dir %s: %w", stateDir, err))
	}
	return nil
}

// stateDirError adds the fix to err, an error writing in stateDir.
func StateDirError(stateDir string, err error) error {
	switch {
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("%w; state-dir %s is on a read-only file system: remount it read-write (mount -o remount,rw on its mount point; after a disk error check the disk first), or set state-dir to a writable directory", err, stateDir)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w; state-dir %s is not writable by this user: run recidivist as root, or set state-dir to a directory it owns", err, stateDir)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("%w; the file system of state-dir %s is full: free some space", err, stateDir)
	}
	return err
}
