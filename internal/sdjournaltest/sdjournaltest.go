// Package sdjournaltest builds systemd journal files for tests, without a
// running journald: entries in journal export format, turned into a
// .journal file by systemd-journal-remote, read back with journalctl
// --directory.
package sdjournaltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/testenv"
)

// Remote is where Debian's systemd-journal-remote package puts the tool
// that turns journal export format into journal files.
const Remote = "/lib/systemd/systemd-journal-remote"

// Entry is one journal entry: its realtime stamp and its fields, trusted
// ones (_SYSTEMD_UNIT, _UID, ...) included, as journald would have
// recorded them.
type Entry struct {
	At     time.Time
	Fields [][2]string
}

// Fail2banJournal is a ban as fail2ban (0.11–1.1) writes it with logtarget
// = SYSTEMD-JOURNAL: python-systemd's JournalHandler created with
// SYSLOG_IDENTIFIER='fail2ban' and no formatter (server.py setLogTarget),
// so MESSAGE is the bare "[JAIL] Ban ADDR", with LOGGER, PRIORITY (NOTICE
// maps to 4) and CODE_* fields, from fail2ban.service running as root.
func Fail2banJournal(at time.Time, jail, addr string) Entry {
	return Entry{at, [][2]string{
		{"_TRANSPORT", "journal"}, {"_UID", "0"}, {"_GID", "0"}, {"_PID", "9484"},
		{"_COMM", "fail2ban-server"}, {"_EXE", "/usr/bin/python3.11"},
		{"_SYSTEMD_UNIT", "fail2ban.service"}, {"SYSLOG_IDENTIFIER", "fail2ban"},
		{"PRIORITY", "4"}, {"LOGGER", "fail2ban.actions"}, {"THREAD_NAME", "f2b/a." + jail},
		{"CODE_FILE", "/usr/lib/python3/dist-packages/fail2ban/server/actions.py"},
		{"CODE_FUNC", "_Actions__checkBan"}, {"CODE_LINE", "494"},
		{"MESSAGE", fmt.Sprintf("[%s] Ban %s", jail, addr)},
	}}
}

// Fail2banSysout is a ban as fail2ban writes it with logtarget = sysout
// under systemd: journald's stdout stream of fail2ban.service, identifier
// the executable's name, the message in fail2ban's format without a time
// (setLogTarget adds none for SYSOUT).
func Fail2banSysout(at time.Time, jail, addr string) Entry {
	return Entry{at, [][2]string{
		{"_TRANSPORT", "stdout"}, {"_UID", "0"}, {"_GID", "0"}, {"_PID", "9484"},
		{"_COMM", "fail2ban-server"}, {"_SYSTEMD_UNIT", "fail2ban.service"},
		{"SYSLOG_IDENTIFIER", "fail2ban-server"}, {"PRIORITY", "6"},
		{"MESSAGE", fmt.Sprintf("fail2ban.actions        [9484]: NOTICE  [%s] Ban %s", jail, addr)},
	}}
}

// Forged is what `logger -t fail2ban` run by a user writes: the same
// identifier and message, but journald records the user's session and uid.
func Forged(at time.Time, jail, addr string) Entry {
	return Entry{at, [][2]string{
		{"_TRANSPORT", "syslog"}, {"_UID", "1000"}, {"_PID", "4242"}, {"_COMM", "logger"},
		{"_SYSTEMD_UNIT", "session-3.scope"}, {"SYSLOG_IDENTIFIER", "fail2ban"},
		{"MESSAGE", fmt.Sprintf("[%s] Ban %s", jail, addr)},
	}}
}

// Write writes entries as the journal file dir/name.journal. It skips t
// (fails it under CI=true) when systemd-journal-remote or journalctl is
// missing.
func Write(t testing.TB, dir, name string, entries ...Entry) {
	t.Helper()
	if _, err := os.Stat(Remote); err != nil {
		testenv.SkipOrFail(t, "systemd-journal-remote is not installed (apt-get install systemd-journal-remote)")
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		testenv.SkipOrFail(t, "journalctl is not installed")
	}
	// One boot, started before every entry: journalctl orders the entries
	// of one boot by their monotonic time, which keeps going across files.
	boot := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var export bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&export, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_MACHINE_ID=fedcba9876543210fedcba9876543210\n",
			e.At.UnixMicro(), e.At.Sub(boot).Microseconds())
		for _, f := range e.Fields {
			fmt.Fprintf(&export, "%s=%s\n", f[0], f[1])
		}
		export.WriteByte('\n')
	}
	src := filepath.Join(t.TempDir(), name+".export")
	if err := os.WriteFile(src, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(Remote, "--output="+filepath.Join(dir, name+".journal"), src).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-journal-remote: %v: %s", err, out)
	}
}
