package watcher

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeRaw appends raw lines to path.
func writeRaw(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

func TestStatsSurviveAStopAndARestartCountsOnFromThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 5, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.8"}, ban{now.Add(time.Second), "postfix-sasl", "192.0.2.8"},
		ban{now.Add(time.Second), "recidive", "192.0.2.8"})
	writeRaw(t, path, ban{now.Add(2 * time.Second), "sshd", "999.1.2.3"}.line(), "zero\x00filled")
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 9) // a NUL ends a line: "zero\x00" is skipped, "filled" is a line of its own
	running := r.w.Stats()
	r.stop(t)

	want := Stats{
		Lines: 9, Bans: 2, Filtered: 1,
		BansByJail:  map[string]uint64{"sshd": 1, "postfix-sasl": 1},
		Skipped:     map[SkipReason]uint64{BadAddress: 1, NULByte: 1},
		LastBan:     running.LastBan,
		LastBanLine: ban{now.Add(time.Second), "postfix-sasl", "192.0.2.8"}.line(),
	}
	if !reflect.DeepEqual(running, want) {
		t.Fatalf("running Stats %+v, want %+v", running, want)
	}
	snap, err := ReadSnapshot(cfg.StateDir, 5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Stats.LastBan.Equal(want.LastBan) {
		t.Errorf("snapshot's last ban at %v, want %v", snap.Stats.LastBan, want.LastBan)
	}
	snap.Stats.LastBan = want.LastBan // same instant; the decoded one has another Location
	if !reflect.DeepEqual(snap.Stats, want) {
		t.Errorf("stopped daemon's snapshot Stats %+v, want %+v", snap.Stats, want)
	}

	// A restart counts on: the lines read before plus the new ones.
	appendLog(t, path, ban{now.Add(3 * time.Second), "dovecot", "2001:db8::8"})
	writeRaw(t, path, "\xff\xfe not text")
	r = startWatcher(t, cfg, nil)
	r.waitLines(t, 12)
	got := r.w.Stats()
	if got.Lines != 12 || got.Bans != 3 || got.Filtered != 1 ||
		!reflect.DeepEqual(got.BansByJail, map[string]uint64{"sshd": 1, "postfix-sasl": 1, "dovecot": 1}) ||
		!reflect.DeepEqual(got.Skipped, map[SkipReason]uint64{BadAddress: 1, NULByte: 1, InvalidUTF8: 1}) ||
		!strings.Contains(got.LastBanLine, "[dovecot] Ban 2001:db8::8") {
		t.Errorf("after the restart Stats %+v, want the earlier counts plus 3 lines, 1 dovecot ban, 1 invalid-utf8", got)
	}
}

func TestAStateFileWithoutStatsStillLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 5, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.9"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	r.stop(t)

	// Rewrite the state as a version without stats wrote it: the same
	// header, checkpoint line and history, no "stats" key.
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
	if _, ok := st["stats"]; !ok {
		t.Fatalf("the state line has no stats to remove: %s", line)
	}
	delete(st, "stats")
	old, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	legacy := bytes.Join([][]byte{header, old, history}, []byte("\n"))
	if err := os.WriteFile(file, legacy, 0o600); err != nil {
		t.Fatal(err)
	}

	snap, err := ReadSnapshot(cfg.StateDir, 5, time.Hour)
	if err != nil {
		t.Fatalf("ReadSnapshot of a state without stats: %v", err)
	}
	if snap.Stats.Lines != 0 || len(snap.Tracked) != 1 {
		t.Errorf("snapshot Stats.Lines %d, tracked %d; want 0 lines and the one tracked address", snap.Stats.Lines, len(snap.Tracked))
	}
	appendLog(t, path, ban{now.Add(time.Second), "sshd", "192.0.2.9"})
	r = startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	got := r.w.Stats()
	if got.Lines != 2 || got.Bans != 1 || !strings.Contains(got.LastBanLine, "Ban 192.0.2.9") {
		t.Errorf("Stats after loading a state without stats %+v, want the 2 new lines counted from zero", got)
	}
	if c := tracked(r.w.Candidates()); c["192.0.2.9"] != 2 {
		t.Errorf("tracked %v, want 192.0.2.9 with its saved ban and the new one", c)
	}
}

func TestAReloadWithANewTimeZoneKeepsTheSkipCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 5, time.Hour)
	writeRaw(t, path, ban{time.Now(), "sshd", "999.1.2.3"}.line(), "zero\x00filled")
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 3) // a NUL ends a line: "zero\x00" is skipped, "filled" is a line of its own
	// A new zone brings a new Parser, which holds the skip counts: the
	// old one's must not be lost with it.
	cfg.Location = time.FixedZone("UTC+2", 2*60*60)
	r.w.Reload(cfg)
	writeRaw(t, path, "\xff\xfe not text")
	r.waitLines(t, 4)
	want := map[SkipReason]uint64{BadAddress: 1, NULByte: 1, InvalidUTF8: 1}
	if got := r.w.Stats().Skipped; !reflect.DeepEqual(got, want) {
		t.Errorf("Stats.Skipped after a reload with a new zone = %v, want %v", got, want)
	}
}
