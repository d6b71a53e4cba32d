package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/sdjournaltest"
	"github.com/recidivist/recidivist/watcher"
)

func TestStatus_names_the_journal_the_daemon_reads_and_its_cursor(t *testing.T) {
	now := time.Now()
	w := newWorld(t)
	w.cfg.Logs = []string{watcher.JournalLog}
	w.cfg.JournalMatch = watcher.DefaultJournalMatch
	w.cfg.JournalDirectory = filepath.Join(w.dir, "journal")
	sdjournaltest.Write(t, w.cfg.JournalDirectory, "system",
		sdjournaltest.Fail2banJournal(now.Add(-3*time.Minute), "sshd", "198.51.100.23"),
		sdjournaltest.Fail2banSysout(now.Add(-2*time.Minute), "postfix", "198.51.100.23"),
		sdjournaltest.Forged(now.Add(-90*time.Second), "sshd", "198.51.100.66"),
		sdjournaltest.Forged(now.Add(-80*time.Second), "sshd", "198.51.100.66"),
		sdjournaltest.Forged(now.Add(-70*time.Second), "sshd", "198.51.100.66"),
		sdjournaltest.Fail2banJournal(now.Add(-time.Minute), "sshd", "198.51.100.23"),
	)
	stop := w.runDaemon(t)
	eventually(t, "the offender of the journal is blocked", func() bool {
		return readStatus(w.cfg, w.fake, nil, time.Now()).Mirror.Entries == 3
	})
	stop()
	st := readStatus(w.cfg, w.fake, nil, time.Now())
	var out bytes.Buffer
	st.print(&out)
	want := "log:      journal (journal in " + w.cfg.JournalDirectory + ", entries matching _SYSTEMD_UNIT=fail2ban.service) read to cursor s="
	if !strings.Contains(out.String(), want) {
		t.Errorf("status does not say %q:\n%s", want, out.String())
	}
	if s := st.Watcher.Stats; s == nil || s.Lines != 3 || s.Bans != 3 {
		t.Errorf("stats = %+v, want 3 entries read (the forged ones not selected), 3 bans", s)
	}
}
