package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A log is identified by what it is, never by how its path is spelled:
// /var/log/./fail2ban.log, a symlink to it, or a changed log setting that
// points at a file already counted (moved, or copied) all resume from the
// checkpoint of the content they hold, instead of counting it again.

// maxRetired bounds the checkpoints kept for logs no longer configured.
const maxRetired = 16

// resolveLog returns the path a configured log is read at: absolute, clean,
// with symlinks resolved, so that the follower watches the directory the
// file really lives (and rotates) in. A log that does not exist yet is
// resolved as far as its directory.
func resolveLog(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(real, base)
	}
	return abs
}

// sameFile reports two configured logs that are one file (the same
// resolved path, or the same inode): reading both would count every ban
// twice.
func sameFile(logs []*followed) error {
	for i, a := range logs {
		ai, aErr := os.Stat(a.file)
		for _, b := range logs[:i] {
			if a.file == b.file {
				return fmt.Errorf("logs %s and %s are the same file; list it once: %w", b.path, a.path, ErrBadConfig)
			}
			if bi, bErr := os.Stat(b.file); aErr == nil && bErr == nil && os.SameFile(ai, bi) {
				return fmt.Errorf("logs %s and %s are the same file (hard link); list it once: %w", b.path, a.path, ErrBadConfig)
			}
		}
	}
	return nil
}

// holds tells whether the content cp points into is at path or among its
// rotated siblings, whatever its name: the same inode with the same first
// bytes, or another inode with the same first bytes (a moved, copied or
// compressed copy).
func (cp Checkpoint) holds(path string) (bool, error) {
	if ok, err := cp.matches(path, false); ok || err != nil {
		return ok, err
	}
	rotated, err := Rotated(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, r := range rotated {
		if ok, err := cp.matches(r.Path, false); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// adoptCheckpoints gives each configured log the saved checkpoint of the
// content it holds, whatever the path that checkpoint was saved under, and
// carries that log's counts over with it. A log whose content no
// checkpoint holds takes the one saved under its own spelling (its content
// rotated away: planStart then reads it as on first start without counting
// again what was counted). Checkpoints no configured log takes are kept as
// retired, so that switching back to a log later does not count it twice.
func (w *Watcher) adoptCheckpoints(st savedState) error {
	saved := append(append([]Checkpoint(nil), st.Checkpoints...), st.Retired...)
	taken := make([]bool, len(saved))
	for _, l := range w.logs {
		i, err := pickCheckpoint(l, saved, taken)
		if err != nil {
			return err
		}
		if i < 0 {
			continue
		}
		taken[i] = true
		cp := saved[i]
		if cp.Log != l.path {
			w.log.Info("log was read before under another path; resuming where that left off", "log", l.path, "read_as", cp.Log, "offset", cp.Offset)
		}
		for _, ss := range st.Stats {
			if ss.Log == cp.Log {
				l.pipe.continueFrom(ss.stats())
			}
		}
		cp.Log = l.path
		l.cp = &cp
		l.pipe.stats.LastBan, l.pipe.lastLine = cp.LastBan, []byte(cp.LastBanLine)
	}
	for i, cp := range saved {
		if !taken[i] && len(w.retired) < maxRetired {
			w.retired = append(w.retired, cp)
		}
	}
	return nil
}

// pickCheckpoint returns the index of the checkpoint in saved (not taken
// yet) for l, or -1: the one whose content l holds, preferring the one saved
// under l's own spelling; else the one saved under a spelling of the same
// path.
func pickCheckpoint(l *followed, saved []Checkpoint, taken []bool) (int, error) {
	found := -1
	for i, cp := range saved {
		if taken[i] || IsJournal(cp.Log) != IsJournal(l.path) {
			continue
		}
		if IsJournal(l.path) {
			return i, nil // one journal: its checkpoint is the cursor
		}
		ok, err := cp.holds(l.file)
		if err != nil {
			return -1, err
		}
		if ok && (found < 0 || cp.Log == l.path) {
			found = i
		}
	}
	if found >= 0 {
		return found, nil
	}
	for i, cp := range saved {
		if !taken[i] && (cp.Log == l.path || resolveLog(cp.Log) == l.file) {
			return i, nil
		}
	}
	return -1, nil
}
