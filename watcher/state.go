package watcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/fileperm"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// StateFile is the name of the watcher's state in the state directory: the
// checkpoint of every log, the offenders not yet handed over, and the
// tracker's history, in one file so that they can never disagree after a
// crash. What changed since it was written is in JournalFile beside it,
// whose records each carry the same three together.
const StateFile = statedir.WatcherStateFile

// stateHeader is the first line of the state file; the number is the
// format version.
const stateHeader = "recidivist watcher state 1\n"

// ErrStatePermissions is returned when the state file or directory can be
// written by other users: whoever can edit it decides who gets blocked.
var ErrStatePermissions = errors.New("state is writable by other users")

// savedState is the part of the state file before the tracker's history.
type savedState struct {
	Saved       time.Time    `json:"saved"`
	Checkpoints []Checkpoint `json:"checkpoints"`
	// Pending are offenders that versions which queued them saved before
	// the callback accepted them; RunBatch hands them over once, and saves
	// no more (the log is the queue now: see Watcher).
	Pending []Offender `json:"pending,omitempty"`
	// Stats are each log's counts so far; absent in files written before
	// they were kept, which load as zero counts.
	Stats []savedStats `json:"stats,omitempty"`
	// Retired are the checkpoints of logs no longer configured, so that a
	// log switched back to is not counted twice (see adoptCheckpoints).
	Retired []Checkpoint `json:"retired,omitempty"`
	// Generation names this base for its journal (see JournalFile): a
	// journal of another generation was folded into it already. Zero in a
	// state written before the journal existed.
	Generation uint64 `json:"generation,omitempty"`
	// Mark is Config.Mark when the checkpoints were taken.
	Mark uint64 `json:"mark,omitempty"`
}

// encodeState writes the state file's content: header, one JSON line, then
// the tracker's history (as WriteTo writes it).
func encodeState(w io.Writer, st savedState, history []byte) error {
	if _, err := io.WriteString(w, stateHeader); err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(st); err != nil { // Encode ends the line
		return fmt.Errorf("encoding checkpoints: %w", err)
	}
	if _, err := w.Write(history); err != nil {
		return fmt.Errorf("writing tracker history: %w", err)
	}
	return nil
}

// saveState atomically replaces dir/StateFile with encoded, mode 0600.
func saveState(dir string, encoded []byte) error {
	path := filepath.Join(dir, StateFile)
	if err := atomicfile.WriteFile(path, encoded, 0o600); err != nil {
		return fmt.Errorf("saving watcher state: %w", err)
	}
	return nil
}

// loadState reads dir/StateFile into st and t, then replays the journal
// beside it (see readJournal). A missing file is not an error (found is
// false); a garbled one is an error wrapping ErrCorruptHistory with found
// true, and leaves t unchanged.
func loadState(dir string, t *Tracker) (st savedState, found bool, err error) {
	st, found, _, err = loadStateAndJournal(dir, t)
	return st, found, err
}

// loadStateAndJournal is loadState, also saying what the journal held.
func loadStateAndJournal(dir string, t *Tracker) (st savedState, found bool, jr journalRead, err error) {
	if err := nofollow.Check(filepath.Join(dir, JournalFile)); err != nil {
		return st, false, jr, err // refused even with no state yet: it would be written through
	}
	st, found, err = loadBase(dir, t)
	if err != nil || !found {
		return st, found, jr, err
	}
	jr, err = readJournal(dir, &st, t)
	return st, true, jr, err
}

// loadBase reads dir/StateFile alone.
func loadBase(dir string, t *Tracker) (st savedState, found bool, err error) {
	path := filepath.Join(dir, StateFile)
	f, err := nofollow.Open(path) // a link could point anywhere: refused, never read
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("opening watcher state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return st, false, fmt.Errorf("inspecting watcher state: %w", err)
	}
	if fileperm.WritableByOthers(fi) {
		return st, false, fmt.Errorf("reading %s (mode %v): %w; run chmod 600 %s", path, fi.Mode().Perm(), ErrStatePermissions, path)
	}
	r := bufio.NewReader(f)
	header, err := r.ReadString('\n')
	if err != nil || header != stateHeader {
		return st, true, fmt.Errorf("reading %s: %w: unknown header %q", path, ErrCorruptHistory, header)
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return st, true, fmt.Errorf("reading %s: %w: no checkpoint line", path, ErrCorruptHistory)
	}
	if err := json.NewDecoder(bytes.NewReader(line)).Decode(&st); err != nil {
		return st, true, fmt.Errorf("reading checkpoints of %s: %w: %v", path, ErrCorruptHistory, err)
	}
	if _, err := t.ReadFrom(r); err != nil {
		return st, true, fmt.Errorf("reading %s: %w", path, err)
	}
	return st, true, nil
}

// ensureStateDir creates dir 0700 if needed and refuses one writable by
// other users.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("inspecting state directory: %w", err)
	}
	if fileperm.WritableByOthers(fi) {
		return fmt.Errorf("using state directory %s (mode %v): %w; run chmod 700 %s", dir, fi.Mode().Perm(), ErrStatePermissions, dir)
	}
	return nil
}

// Snapshot is what the saved state says, for commands that run beside the
// daemon (status, offenders) and must not disturb it. It is as fresh as the
// daemon's last save (at most a second old while it runs).
type Snapshot struct {
	Saved       time.Time
	Checkpoints []Checkpoint // one per log read so far, with its last ban line
	Pending     []Offender   // queued by an older version, not yet handed over
	Tracked     []Offender   // addresses with bans in the window, most bans first
	// Stats are the counts of every log together since the state began
	// (lines, bans, skipped lines...): zero for a state saved before they
	// were kept.
	Stats Stats
}

// ReadSnapshot reads the state in stateDir without changing it, counting
// under threshold and window as the daemon does. With no state saved yet it
// returns an error wrapping fs.ErrNotExist.
func ReadSnapshot(stateDir string, threshold int, window time.Duration) (Snapshot, error) {
	if threshold < 1 || window < 0 {
		return Snapshot{}, fmt.Errorf("reading watcher state: threshold %d, window %v: %w", threshold, window, ErrBadConfig)
	}
	t := NewTracker(threshold, window)
	st, found, err := loadState(stateDir, t)
	if err != nil {
		return Snapshot{}, err
	}
	if !found {
		return Snapshot{}, fmt.Errorf("reading watcher state in %s: %w", stateDir, fs.ErrNotExist)
	}
	stats := Stats{BansByJail: map[string]uint64{}, Skipped: map[SkipReason]uint64{}}
	for _, ss := range st.Stats {
		stats = stats.merge(ss.stats())
	}
	return Snapshot{Saved: st.Saved, Checkpoints: st.Checkpoints, Pending: st.Pending, Tracked: t.Candidates(), Stats: stats}, nil
}
