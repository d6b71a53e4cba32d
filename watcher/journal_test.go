package watcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/tick"
)

// journalRig drives a Watcher's counting and saving by hand, without Run:
// every batch of bans is one save.
type journalRig struct {
	w      *Watcher
	cfg    Config
	offset int64
	next   int // address counter
	start  time.Time
}

func newJournalRig(t testing.TB, tracked int) *journalRig {
	t.Helper()
	dir := t.TempDir()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	cfg := Config{Logs: []string{filepath.Join(dir, "fail2ban.log")}, StateDir: filepath.Join(dir, "state"),
		Threshold: 3, Window: 24 * time.Hour, Location: time.UTC, Now: func() time.Time { return start.Add(time.Hour) }}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rig := &journalRig{w: w, cfg: cfg, start: start}
	for tracked > 0 {
		n := min(tracked, 4096)
		rig.bans(t, n, false)
		tracked -= n
	}
	if err := w.save(); err != nil { // the first save of a run writes the whole state
		t.Fatal(err)
	}
	return rig
}

// bans counts n bans read from the log, each of a new address unless
// repeat, which bans the last n addresses again.
func (r *journalRig) bans(t testing.TB, n int, repeat bool) {
	t.Helper()
	if repeat {
		r.next -= n
	}
	lines := make([]Line, n)
	for i := range lines {
		a := r.next
		r.next++
		text := ban{r.start.Add(time.Duration(a%3600) * time.Second), "sshd",
			fmt.Sprintf("10.%d.%d.%d", a>>16&255, a>>8&255, a&255)}.line()
		r.offset += int64(len(text)) + 1
		lines[i] = Line{Text: []byte(text), File: FileID{Dev: 1, Ino: 2, Head: fingerprintOf([]byte("head"))}, Offset: r.offset}
	}
	if err := r.w.process(context.Background(), r.w.logs[0], lines, func([]Offender) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// held is what a state holds: the checkpoint offset and every tracked
// address with its bans.
type held struct {
	offset  int64
	tracked map[string]int
}

func (r *journalRig) live() held {
	return held{r.w.logs[0].cp.Offset, tracked(r.w.Candidates())}
}

// load reads the state in dir as a restarted daemon would.
func (r *journalRig) load(t testing.TB, dir string) held {
	t.Helper()
	tr := NewTracker(r.cfg.Threshold, r.cfg.Window)
	st, found, err := loadState(dir, tr)
	if err != nil || !found || len(st.Checkpoints) != 1 {
		t.Fatalf("loading %s: found=%v err=%v checkpoints=%v", dir, found, err, st.Checkpoints)
	}
	return held{st.Checkpoints[0].Offset, tracked(tr.Candidates())}
}

func (h held) equal(o held) bool {
	if h.offset != o.offset || len(h.tracked) != len(o.tracked) {
		return false
	}
	for a, n := range h.tracked {
		if o.tracked[a] != n {
			return false
		}
	}
	return true
}

func TestSavesAppendWhatChangedInsteadOfRewritingTheState(t *testing.T) {
	rig := newJournalRig(t, 20000)
	state := filepath.Join(rig.cfg.StateDir, StateFile)
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rig.bans(t, 10, i%2 == 1)
		if err := rig.w.save(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("%s (%d bytes) was rewritten by saves of 10 bans each; want them appended to %s", StateFile, len(before), JournalFile)
	}
	journal, err := os.Stat(filepath.Join(rig.cfg.StateDir, JournalFile))
	if err != nil {
		t.Fatalf("no journal: %v", err)
	}
	if perSave := (journal.Size() - int64(journalHeaderLen)) / 5; perSave == 0 || perSave > 2048 {
		t.Errorf("journal grew %d bytes per save of 10 bans, want some and at most 2 KB (the state is %d bytes)", perSave, len(before))
	}
	if got, want := rig.load(t, rig.cfg.StateDir), rig.live(); !got.equal(want) {
		t.Errorf("state read back holds %d addresses at offset %d, want %d at %d", len(got.tracked), got.offset, len(want.tracked), want.offset)
	}
	// A clean shutdown folds the journal into the state.
	if err := rig.w.persist(true); err != nil {
		t.Fatal(err)
	}
	if journal, err := os.Stat(filepath.Join(rig.cfg.StateDir, JournalFile)); err != nil || journal.Size() != int64(journalHeaderLen) {
		t.Errorf("journal after a clean shutdown: %v, %v; want an empty one", journal.Size(), err)
	}
	if got, want := rig.load(t, rig.cfg.StateDir), rig.live(); !got.equal(want) {
		t.Errorf("compacted state holds %d addresses at offset %d, want %d at %d", len(got.tracked), got.offset, len(want.tracked), want.offset)
	}
}

func TestATornJournalTailIsDroppedNeverMiscounted(t *testing.T) {
	rig := newJournalRig(t, 50)
	journal := filepath.Join(rig.cfg.StateDir, JournalFile)
	// After each save: where its record ends, and what the state holds.
	ends := []int64{int64(journalHeaderLen)}
	states := []held{rig.live()}
	for i := range 6 {
		rig.bans(t, 5, i%2 == 1) // repeats make offenders, which leave the tracker
		rig.w.Forgive(netip.MustParsePrefix(fmt.Sprintf("10.0.0.%d/32", i)), rig.start.Add(time.Hour))
		if err := rig.w.save(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(journal)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, fi.Size())
		states = append(states, rig.live())
	}
	full, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(rig.cfg.StateDir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	// A crash can stop the journal at any byte: the state read back is that
	// of the last whole record, never anything in between. Garbage after a
	// cut (a torn write the file system filled with zeros) changes nothing.
	// Every byte of the last record is tried, and every record's edges.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), base, 0o600); err != nil {
		t.Fatal(err)
	}
	var cuts []int64
	for cut := int64(journalHeaderLen); cut <= int64(len(full)); cut++ {
		i, _ := slices.BinarySearch(ends, cut)
		if cut > ends[len(ends)-2] || i < len(ends) && ends[i]-cut <= 1 || cut-ends[max(i-1, 0)] <= 1 {
			cuts = append(cuts, cut)
		}
	}
	for _, cut := range cuts {
		for _, tail := range [][]byte{nil, make([]byte, 7)} {
			if err := os.WriteFile(filepath.Join(dir, JournalFile), append(slices.Clone(full[:cut]), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			i, _ := slices.BinarySearch(ends, cut+1)
			want := states[i-1]
			if got := rig.load(t, dir); !got.equal(want) {
				t.Fatalf("journal cut at %d of %d (+%d zero bytes): state holds %v at offset %d, want %v at %d (record %d)",
					cut, len(full), len(tail), got.tracked, got.offset, want.tracked, want.offset, i-1)
			}
		}
	}
	if len(cuts) < 100 {
		t.Fatalf("only %d cuts tried", len(cuts))
	}
}

func TestAJournalOfAnotherGenerationIsNotReplayed(t *testing.T) {
	rig := newJournalRig(t, 50)
	rig.bans(t, 5, true)
	if err := rig.w.save(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(rig.cfg.StateDir, JournalFile)
	old, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	// Compaction folds the journal into the state; a crash before the new
	// journal was started leaves the old one beside the new state.
	if err := rig.w.persist(true); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journal, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := rig.load(t, rig.cfg.StateDir), rig.live(); !got.equal(want) {
		t.Errorf("state with a stale journal holds %v at %d, want %v at %d (counted twice?)", got.tracked, got.offset, want.tracked, want.offset)
	}
}

func TestAStateOfTheReleaseBeforeTheJournalLoadsAndCountsNothingTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	now := time.Now()
	a, b := "192.0.2.10", "198.51.100.20"
	appendLog(t, path, ban{now, "sshd", a}, ban{now.Add(time.Second), "sshd", a})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)
	r.stop(t)

	// Rewrite the state as the release before the journal wrote it: no
	// generation, and no journal beside it.
	file := filepath.Join(cfg.StateDir, StateFile)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := bytes.Cut(data, []byte("\n"))
	line, history, _ := bytes.Cut(rest, []byte("\n"))
	var st map[string]json.RawMessage
	if err := json.Unmarshal(line, &st); err != nil {
		t.Fatal(err)
	}
	if _, ok := st["generation"]; !ok {
		t.Fatalf("the state line has no generation to remove: %s", line)
	}
	delete(st, "generation")
	old, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, bytes.Join([][]byte{header, old, history}, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.StateDir, JournalFile)); err != nil {
		t.Fatal(err)
	}

	ticks := &tick.Manual{}
	cfg.NewTicker = ticks.New
	r = startWatcher(t, cfg, nil)
	appendLog(t, path, ban{now.Add(2 * time.Second), "sshd", b})
	r.waitLines(t, 6)
	for range 2 { // a save into the journal: the second tick waits for the first
		if err := ticks.Tick(saveEvery, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got := tracked(r.w.Candidates()); len(r.offenders()) != 0 || got[a] != 2 || got[b] != 1 {
		t.Errorf("after the upgrade: tracked %v, offenders %v; want %s twice, %s once, no offender", got, addrsOf(r.offenders()), a, b)
	}
	snap, err := ReadSnapshot(cfg.StateDir, 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := tracked(snap.Tracked); got[a] != 2 || got[b] != 1 || snap.Stats.Lines != 6 {
		t.Errorf("saved after the upgrade: tracked %v, %d lines; want %s twice, %s once, 6 lines", got, snap.Stats.Lines, a, b)
	}
}

func TestTheSweepFloorIsRestoredFromTheJournal(t *testing.T) {
	rig := newJournalRig(t, 50)
	floorAfterLoad := func() int64 {
		tr := NewTracker(rig.cfg.Threshold, rig.cfg.Window)
		if _, _, err := loadState(rig.cfg.StateDir, tr); err != nil {
			t.Fatal(err)
		}
		return tr.floor
	}
	// Right after a compaction the floor is in no record yet; then it moves.
	if err := rig.w.persist(true); err != nil {
		t.Fatal(err)
	}
	rig.bans(t, 1, true) // an older ban than the newest: the floor stays
	if err := rig.w.save(); err != nil {
		t.Fatal(err)
	}
	if got, want := floorAfterLoad(), rig.w.tracker.floor; got != want || want == math.MaxInt64 {
		t.Errorf("floor read back %d, live %d (and set)", got, want)
	}
	rig.next += 4000 // a newer ban moves it
	rig.bans(t, 1, false)
	if err := rig.w.save(); err != nil {
		t.Fatal(err)
	}
	if got, want := floorAfterLoad(), rig.w.tracker.floor; got != want {
		t.Errorf("floor read back %d, live %d", got, want)
	}
}
