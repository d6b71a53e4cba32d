package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/internal/nofollow"
)

// ErrLocked means another recidivist daemon holds the state directory.
var ErrLocked = errors.New("state directory is locked by another recidivist")

// Holder is what a daemon writes into the lock it holds: who it is and what
// it manages, for check and status to read instead of guessing from /proc.
type Holder struct {
	PID      int    `json:"pid"`
	StateDir string `json:"state-dir"`
	SetName  string `json:"set-name,omitempty"` // "" in a lock of a release before this field
}

// DaemonLock is an exclusive advisory lock on the daemon's lock file, held
// for the life of a daemon so that two daemons never share a state
// directory.
type DaemonLock struct{ f *os.File }

// Acquire takes the daemon's lock of dir, creating the directory (0700) and
// the lock file (0600) if needed, and writes this process's Holder (its PID,
// dir and setName) into it. When another process holds it the error wraps
// ErrLocked and names that PID.
func Acquire(dir, setName string) (*DaemonLock, error) {
	if err := Prepare(dir); err != nil {
		return nil, err
	}
	path := Lock(dir)
	f, err := nofollow.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, nofollow.ErrSymlink) {
		return nil, err
	}
	if err != nil {
		return nil, Error(dir, fmt.Errorf("opening lock %s: %w", path, err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			h, _, _ := ReadHolder(dir) // best effort: the PID only improves the message
			return nil, fmt.Errorf("%w (PID %d holds %s); stop it first, e.g. systemctl stop recidivist", ErrLocked, h.PID, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	b, err := json.Marshal(Holder{PID: os.Getpid(), StateDir: dir, SetName: setName})
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the daemon's PID to %s: %w", path, err)
	}
	return &DaemonLock{f: f}, nil
}

// Release drops the lock. The file stays, so its inode is stable.
func (l *DaemonLock) Release() error { return l.f.Close() }

// maxLock is more than any lock a daemon writes.
const maxLock = 4096

// ReadHolder reports whether a daemon holds the lock of dir and, if so, what
// it wrote there. A daemon that holds it but has not written yet has PID 0.
// A lock of a release before this one holds only the PID: StateDir is then
// dir and SetName "".
func ReadHolder(dir string) (h Holder, held bool, err error) {
	path := Lock(dir)
	f, err := nofollow.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Holder{}, false, nil
	}
	if errors.Is(err, nofollow.ErrSymlink) {
		return Holder{}, false, err
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("opening lock %s: %w", path, err)
	}
	defer f.Close()
	// A shared, non-blocking try: if it succeeds nobody holds the exclusive lock.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		return Holder{}, false, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLock))
	if err != nil {
		return Holder{}, true, fmt.Errorf("reading lock %s: %w", path, err)
	}
	return parseHolder(b, dir), true, nil
}

// parseHolder reads the contents of the lock of dir: a Holder in JSON, or
// the PID alone that earlier releases wrote. Anything else (a lock not
// written yet) is Holder{} with StateDir dir.
func parseHolder(b []byte, dir string) Holder {
	var h Holder
	if err := json.Unmarshal(b, &h); err == nil && h.PID > 0 {
		if h.StateDir == "" {
			h.StateDir = dir
		}
		return h
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		return Holder{PID: pid, StateDir: dir}
	}
	return Holder{StateDir: dir}
}
