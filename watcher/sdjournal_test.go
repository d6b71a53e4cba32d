package watcher

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/sdjournaltest"
	"github.com/recidivist/recidivist/internal/testenv"
)

// readSDJournal runs journalReader (without follow) and returns the lines.
func readSDJournal(t *testing.T, cfg JournalConfig, cursor string) []Line {
	t.Helper()
	r := &journalReader{cfg: cfg, cursor: cursor}
	var got []Line
	err := r.Run(context.Background(), func(lines []Line) error {
		for _, l := range lines {
			l.Text = slices.Clone(l.Text)
			got = append(got, l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var jt0 = time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)

func TestJournalEntriesOfBothFail2banTargetsParseAsBansAtTheJournalsTime(t *testing.T) {
	dir := t.TempDir()
	sdjournaltest.Write(t, dir, "a",
		sdjournaltest.Fail2banJournal(jt0, "sshd", "192.0.2.1"),
		sdjournaltest.Fail2banSysout(jt0.Add(time.Second), "nginx", "2001:db8::1"),
		sdjournaltest.Entry{At: jt0.Add(2 * time.Second), Fields: [][2]string{{"_SYSTEMD_UNIT", "fail2ban.service"}, {"SYSLOG_IDENTIFIER", "fail2ban"},
			{"LOGGER", "fail2ban.filter"}, {"MESSAGE", "[sshd] Ban 192.0.2.7"}}},
		// fail2ban-client's output (ExecStop, ExecReload) runs in the same unit.
		sdjournaltest.Entry{At: jt0.Add(3 * time.Second), Fields: [][2]string{{"_SYSTEMD_UNIT", "fail2ban.service"}, {"SYSLOG_IDENTIFIER", "fail2ban-client"},
			{"_TRANSPORT", "stdout"}, {"MESSAGE", "[sshd] Ban 192.0.2.8"}}},
	)
	lines := readSDJournal(t, JournalConfig{Directory: dir}, "")
	if len(lines) != 4 {
		t.Fatalf("read %d entries, want 4", len(lines))
	}
	p := NewParser(ParserConfig{Location: time.UTC})
	want := []struct {
		verdict Verdict
		ban     Ban
	}{
		{Countable, Ban{Time: jt0, Jail: "sshd", Addr: mustAddr(t, "192.0.2.1")}},
		{Countable, Ban{Time: jt0.Add(time.Second), Jail: "nginx", Addr: mustAddr(t, "2001:db8::1")}},
		{NotBan, Ban{}}, // another logger than the actions logger
		{NotBan, Ban{}}, // another program than fail2ban-server
	}
	for i, l := range lines {
		if l.Cursor == "" {
			t.Errorf("entry %d has no cursor", i)
		}
		ban, v := p.Parse(l.Text)
		if v != want[i].verdict || !ban.Time.Equal(want[i].ban.Time) || ban.Jail != want[i].ban.Jail || ban.Addr != want[i].ban.Addr {
			t.Errorf("entry %d %q: got %v %+v, want %v %+v", i, l.Text, v, ban, want[i].verdict, want[i].ban)
		}
	}
}

func TestTheDefaultMatchLeavesOutEntriesForgedFromOutsideFail2bansUnit(t *testing.T) {
	dir := t.TempDir()
	sdjournaltest.Write(t, dir, "a",
		sdjournaltest.Forged(jt0, "sshd", "198.51.100.9"),
		sdjournaltest.Fail2banJournal(jt0.Add(time.Second), "sshd", "192.0.2.1"),
		sdjournaltest.Forged(jt0.Add(2*time.Second), "sshd", "198.51.100.9"),
	)
	lines := readSDJournal(t, JournalConfig{Directory: dir}, "")
	if len(lines) != 1 || !bytes.Contains(lines[0].Text, []byte("192.0.2.1")) {
		t.Fatalf("read %d entries (%+v), want only fail2ban.service's ban of 192.0.2.1", len(lines), lines)
	}
}

func TestJournalMatchMustBeFieldEqualsValue(t *testing.T) {
	for _, m := range []string{"--since=yesterday", "syslog_identifier=fail2ban", "fail2ban", ""} {
		if err := CheckJournalMatch([]string{m}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("match %q: got %v, want ErrBadConfig", m, err)
		}
	}
	if err := CheckJournalMatch([]string{"_SYSTEMD_UNIT=fail2ban.service", "+", "SYSLOG_IDENTIFIER=fail2ban"}); err != nil {
		t.Errorf("valid match refused: %v", err)
	}
}

func journalConfig(t *testing.T, dir string, threshold int) Config {
	cfg := testConfig(t, JournalLog, threshold, 365*24*time.Hour)
	cfg.Journal = JournalConfig{Directory: dir}
	return cfg
}

func TestWatcherResumesTheJournalAfterItsCursorWithoutCountingTwice(t *testing.T) {
	dir := t.TempDir()
	sdjournaltest.Write(t, dir, "a",
		sdjournaltest.Fail2banJournal(jt0, "sshd", "192.0.2.1"),
		sdjournaltest.Forged(jt0.Add(time.Second), "sshd", "192.0.2.1"),
		sdjournaltest.Fail2banSysout(jt0.Add(2*time.Second), "nginx", "192.0.2.1"),
	)
	cfg := journalConfig(t, dir, 3)
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	if got := tracked(r.w.Candidates()); got["192.0.2.1"] != 2 {
		t.Fatalf("tracked %v, want 192.0.2.1 with 2 bans (the forged one left out)", got)
	}
	r.stop(t)

	// fail2ban goes on logging while recidivist is stopped: a new journal
	// file, as journald starts after rotation.
	sdjournaltest.Write(t, dir, "b", sdjournaltest.Fail2banJournal(jt0.Add(time.Hour), "sshd", "192.0.2.1"))
	r = startWatcher(t, cfg, nil)
	got := r.waitOffenders(t, 1)
	if len(got) != 1 || got[0].Addr.String() != "192.0.2.1" || got[0].Bans != 3 {
		t.Fatalf("offenders %+v, want 192.0.2.1 with exactly 3 bans", got)
	}
	r.waitLines(t, 3)
	r.stop(t)
	if n := r.w.Stats().Bans; n != 3 {
		t.Errorf("counted %d bans over both runs, want 3", n)
	}
}

// readTwoBansOfTheJournal runs a Watcher (threshold 2) over a journal
// file a.journal with one sshd ban each of 192.0.2.1 and 192.0.2.2 and
// stops it once it read them, its cursor saved.
func readTwoBansOfTheJournal(t *testing.T) (dir string, cfg Config) {
	dir = t.TempDir()
	sdjournaltest.Write(t, dir, "a", sdjournaltest.Fail2banJournal(jt0, "sshd", "192.0.2.1"), sdjournaltest.Fail2banJournal(jt0.Add(time.Second), "sshd", "192.0.2.2"))
	cfg = journalConfig(t, dir, 2)
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	r.stop(t)
	return dir, cfg
}

func TestWatcherResumesWhenTheCursorsFileWasVacuumed(t *testing.T) {
	dir, cfg := readTwoBansOfTheJournal(t)
	// journalctl --vacuum-* deletes whole archived files: the cursor's
	// entry is gone, the newer file is still there.
	if err := os.Remove(filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sdjournaltest.Write(t, dir, "b", sdjournaltest.Fail2banJournal(jt0.Add(time.Minute), "sshd", "192.0.2.1"), sdjournaltest.Fail2banJournal(jt0.Add(2*time.Minute), "sshd", "192.0.2.3"))
	r := startWatcher(t, cfg, nil)
	got := r.waitOffenders(t, 1)
	r.waitLines(t, 4)
	r.stop(t)
	if len(got) != 1 || got[0].Addr.String() != "192.0.2.1" || got[0].Bans != 2 {
		t.Fatalf("offenders %+v, want 192.0.2.1 with 2 bans", got)
	}
	if c := tracked(r.w.Candidates()); c["192.0.2.2"] != 1 || c["192.0.2.3"] != 1 {
		t.Errorf("tracked %v, want 192.0.2.2 and 192.0.2.3 once each", c)
	}
}

func TestARefusedCursorIsReadAgainFromTheWindowStartWithoutCountingTwice(t *testing.T) {
	dir, cfg := readTwoBansOfTheJournal(t)
	// A cursor journalctl cannot seek to (a journal from elsewhere, a
	// hand-edited state).
	w := newWatcher(t, cfg)
	w.logs[0].cp.Cursor = "not-a-cursor"
	w.dirty = true
	if err := w.persist(true); err != nil {
		t.Fatal(err)
	}
	sdjournaltest.Write(t, dir, "b", sdjournaltest.Fail2banJournal(jt0.Add(time.Minute), "sshd", "192.0.2.2"))
	var logBuf testenv.Buffer
	cfg.Logger = slogTo(&logBuf)
	r := startWatcher(t, cfg, nil)
	got := r.waitOffenders(t, 1)
	r.stop(t)
	if len(got) != 1 || got[0].Addr.String() != "192.0.2.2" || got[0].Bans != 2 {
		t.Fatalf("offenders %+v, want 192.0.2.2 with 2 bans", got)
	}
	if c := tracked(r.w.Candidates()); c["192.0.2.1"] != 1 {
		t.Errorf("tracked %v, want 192.0.2.1 once", c)
	}
	if !strings.Contains(logBuf.String(), "does not take the saved cursor") {
		t.Errorf("log does not say the cursor was refused:\n%s", logBuf.String())
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestAMissingJournalctlIsAnErrorThatSaysWhatToDo(t *testing.T) {
	r := &journalReader{cfg: JournalConfig{Command: filepath.Join(t.TempDir(), "journalctl")}}
	err := r.Run(context.Background(), func([]Line) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "install systemd") {
		t.Fatalf("got %v, want an error saying to install systemd", err)
	}
}
