package daemon

import (
	"path/filepath"

	"github.com/recidivist/recidivist/watcher"
)

// StateFiles lists every file the daemon and the commands keep in a state
// directory: the mirror and its lock, the seen set, the watcher's state and
// journal, and the daemon's lock. None of them is ever followed through a
// symbolic link.
func StateFiles(stateDir string) []string {
	return []string{
		MirrorPath(stateDir),
		MirrorPath(stateDir) + ".lock",
		seenPath(stateDir),
		filepath.Join(stateDir, watcher.StateFile),
		filepath.Join(stateDir, watcher.JournalFile),
		LockPath(stateDir),
		fleetCursorPath(stateDir),
	}
}

// fleetCursorPath is the last fleet change applied (see RunFleetReader).
func fleetCursorPath(stateDir string) string { return filepath.Join(stateDir, "fleet-cursor") }

// seenPath is the seen set of a state directory (see seenSet).
func seenPath(stateDir string) string { return filepath.Join(stateDir, "seen") }
