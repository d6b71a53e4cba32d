// Package statedir owns the state directory: the names of the files in it
// (the mirror, its writers' lock, the seen set, the watcher's state and
// journal, the daemon's lock, the fleet cursor, the notifier's outbox and
// status, the hit record), its creation, the errors of writing in it,
// and the daemon's lock with what it says about the daemon holding it.
// Commands ask it for paths instead of the daemon.
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The files of a state directory, by name.
const (
	MirrorFile         = "blocklist"       // the mirror: what is blocked
	SeenFile           = "seen"            // prefixes of the mirror as last seen (see daemon's seenSet)
	WatcherStateFile   = "watcher.state"   // the watcher's checkpoints and history
	WatcherJournalFile = "watcher.journal" // what changed since WatcherStateFile was written
	LockFile           = "lock"            // the daemon's lock (see Acquire)
	FleetCursorFile    = "fleet-cursor"    // the last fleet change applied (see daemon.RunFleetReader)
	FleetStatusFile    = "fleet-status"    // the daemon's link to the fleet, for status (see daemon.FleetLink)
	FleetOutboxFile    = "fleet-outbox"    // this host's bans and records to share (see daemon's outbox)
	FleetPushedFile    = "fleet-pushed"    // the last outbox item the fleet acknowledged (see daemon.RunFleetWriter)
	NotifyOutboxFile   = "notify-outbox"   // notifications not yet delivered (see package notify)
	NotifyStatusFile   = "notify-status"   // the notifier's last delivery and last error
	HitsFile           = "hits"            // per entry: packets counted, last hit, idle since (see package hits)
	mirrorLockSuffix   = ".lock"           // the mirror writers' lock, beside the mirror
)

// Mirror is the path of the mirror in dir.
func Mirror(dir string) string { return filepath.Join(dir, MirrorFile) }

// Seen is the path of the seen set in dir.
func Seen(dir string) string { return filepath.Join(dir, SeenFile) }

// FleetCursor is the path of the last fleet change applied, in dir.
func FleetCursor(dir string) string { return filepath.Join(dir, FleetCursorFile) }

// FleetStatus is the path of the daemon's fleet link status in dir.
func FleetStatus(dir string) string { return filepath.Join(dir, FleetStatusFile) }

// FleetOutbox is the path of the fleet outbox in dir.
func FleetOutbox(dir string) string { return filepath.Join(dir, FleetOutboxFile) }

// FleetPushed is the path of the fleet writer's checkpoint in dir.
func FleetPushed(dir string) string { return filepath.Join(dir, FleetPushedFile) }

// NotifyOutbox is the path of the notifier's outbox in dir.
func NotifyOutbox(dir string) string { return filepath.Join(dir, NotifyOutboxFile) }

// NotifyStatus is the path of the notifier's status in dir.
func NotifyStatus(dir string) string { return filepath.Join(dir, NotifyStatusFile) }

// Hits is the path of the blocklist's hit record in dir.
func Hits(dir string) string { return filepath.Join(dir, HitsFile) }

// Lock is the path of the daemon's lock in dir.
func Lock(dir string) string { return filepath.Join(dir, LockFile) }

// Files lists every file the daemon and the commands keep in dir. None of
// them is ever followed through a symbolic link.
func Files(dir string) []string {
	return []string{
		Mirror(dir),
		Mirror(dir) + mirrorLockSuffix,
		Seen(dir),
		filepath.Join(dir, WatcherStateFile),
		filepath.Join(dir, WatcherJournalFile),
		Lock(dir),
		FleetCursor(dir),
		FleetStatus(dir),
		FleetOutbox(dir),
		FleetPushed(dir),
		NotifyOutbox(dir),
		NotifyStatus(dir),
		Hits(dir),
	}
}

// Prepare creates dir (0700) if needed and checks that this process can
// write in it, so that a daemon finds out before it touches the kernel. The
// error names the key state-dir and the fix.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Error(dir, fmt.Errorf("creating state dir %s: %w", dir, err))
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return Error(dir, fmt.Errorf("writing in state dir %s: %w", dir, err))
	}
	return nil
}

// Error adds the fix to err, an error writing in the state directory dir.
func Error(dir string, err error) error {
	switch {
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("%w; state-dir %s is on a read-only file system: remount it read-write (mount -o remount,rw on its mount point; after a disk error check the disk first), or set state-dir to a writable directory", err, dir)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w; state-dir %s is not writable by this user: run recidivist as root, or set state-dir to a directory it owns", err, dir)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("%w; the file system of state-dir %s is full: free some space", err, dir)
	}
	return err
}
