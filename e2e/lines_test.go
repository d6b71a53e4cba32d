package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// f2bPID is the process id written in the generated fail2ban lines.
const f2bPID = e2etest.F2BPID

// actionLine formats msg as fail2ban 1.0.2 logs a fail2ban.actions NOTICE
// (see e2etest.ActionLine).
func actionLine(at time.Time, msg string) string { return e2etest.ActionLine(at, msg) }

// banLine is the countable line: [jail] Ban addr.
func banLine(at time.Time, jail string, addr netip.Addr) string {
	return e2etest.BanLine(at, jail, addr)
}

// foundLine is the fail2ban.filter INFO line that precedes a ban.
func foundLine(at time.Time, jail string, addr netip.Addr) string {
	return fmt.Sprintf("%s,%03d %-24s[%d]: %-7s [%s] Found %s - %s", at.Format(time.DateTime), at.Nanosecond()/1e6,
		"fail2ban.filter", f2bPID, "INFO", jail, addr, at.Format(time.DateTime))
}

// appendLines appends lines to the log at path in one write (as fail2ban's
// logging handler flushes each record) and returns the time the write
// returned: the moment the deciding line is on file.
func appendLines(t *testing.T, path string, lines ...string) time.Time {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		f.Close() //nolint:errcheck // the write error is the one to report
		t.Fatalf("appending to %s: %v", path, err)
	}
	written := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("closing %s: %v", path, err)
	}
	return written
}
