package doctor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/sdjournaltest"
	"github.com/recidivist/recidivist/watcher"
)

// journalWorld is newWorld with fail2ban logging to the journal and
// recidivist reading it from a journal directory.
func journalWorld(t *testing.T, target string, entries ...sdjournaltest.Entry) *world {
	t.Helper()
	w := newWorld(t)
	jdir := filepath.Join(w.dir, "journal")
	sdjournaltest.Write(t, jdir, "system", entries...)
	w.cfg.Logs = []string{watcher.JournalLog}
	w.cfg.JournalMatch = watcher.DefaultJournalMatch
	w.cfg.JournalDirectory = jdir
	write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = "+target+"\n")
	return w
}

func TestDoctor_reads_the_journal_and_names_it(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		target   string
		entries  []sdjournaltest.Entry
		problems int
		want     string
	}{
		{"bans through the journal handler", "SYSTEMD-JOURNAL",
			[]sdjournaltest.Entry{sdjournaltest.Fail2banJournal(now.Add(-time.Hour), "sshd", "192.0.2.1"), sdjournaltest.Fail2banJournal(now.Add(-time.Minute), "sshd", "192.0.2.2")},
			0, "journal in "},
		{"bans through sysout", "sysout",
			[]sdjournaltest.Entry{sdjournaltest.Fail2banSysout(now.Add(-time.Minute), "sshd", "192.0.2.1")},
			0, "1 countable Ban entries"},
		{"only forged entries", "SYSTEMD-JOURNAL",
			[]sdjournaltest.Entry{sdjournaltest.Forged(now.Add(-time.Minute), "sshd", "192.0.2.1")},
			0, "has no entry of fail2ban in the last 1w"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := journalWorld(t, tc.target, tc.entries...)
			n := w.run()
			out := w.out.String()
			if n != tc.problems {
				t.Errorf("found %d problems, want %d:\n%s", n, tc.problems, out)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "entries matching _SYSTEMD_UNIT=fail2ban.service") {
				t.Errorf("output does not say %q and name the journal source:\n%s", tc.want, out)
			}
		})
	}
}

func TestDoctor_says_to_read_the_journal_when_fail2ban_logs_there(t *testing.T) {
	w := newWorld(t)
	write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = SYSTEMD-JOURNAL\n")
	w.run()
	if out := w.out.String(); !givesFix(out, `set log = "journal"`) {
		t.Errorf("output does not give the fix to read the journal:\n%s", out)
	}
}

func TestDoctor_names_the_journal_as_the_safer_source_for_a_syslog_file(t *testing.T) {
	w := newWorld(t)
	write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = SYSLOG\n")
	w.run()
	if out := w.out.String(); !strings.Contains(out, `log = \"journal\"`) && !strings.Contains(out, `log = "journal"`) {
		t.Errorf("the syslog warning does not name the journal:\n%s", out)
	}
}
