package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/sdjournaltest"
)

func TestScan_journal_counts_fail2bans_entries_and_not_a_forged_one(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sdjournaltest.Write(t, dir, "system",
		sdjournaltest.Fail2banJournal(t0, "sshd", "192.0.2.8"),
		sdjournaltest.Fail2banSysout(t0.Add(time.Minute), "nginx", "192.0.2.8"),
		sdjournaltest.Forged(t0.Add(2*time.Minute), "sshd", "198.51.100.7"),
		sdjournaltest.Forged(t0.Add(3*time.Minute), "sshd", "198.51.100.7"),
		sdjournaltest.Fail2banJournal(t0.Add(4*time.Minute), "recidive", "192.0.2.9"),
		sdjournaltest.Fail2banJournal(t0.Add(5*time.Minute), "recidive", "192.0.2.9"),
	)
	var out, errOut bytes.Buffer
	args := []string{"recidivist", "scan", "--journal", "--journal-directory", dir, "--threshold", "2", "--window", "1h"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("scan --journal: exit %d, stderr %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "192.0.2.8") {
		t.Errorf("scan --journal did not find 192.0.2.8 (one ban per fail2ban target):\n%s%s", out.String(), errOut.String())
	}
	if strings.Contains(out.String(), "198.51.100.7") {
		t.Errorf("scan --journal counted bans logger forged from a user session:\n%s", out.String())
	}
	if strings.Contains(out.String(), "192.0.2.9") {
		t.Errorf("scan --journal counted the excluded recidive jail:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "2 countable bans") {
		t.Errorf("summary does not say 2 countable bans: %s", errOut.String())
	}
}

func TestScan_journal_with_files_too_is_a_usage_error(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"recidivist", "scan", "--journal", "/var/log/fail2ban.log"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, errOut.String())
	}
}
