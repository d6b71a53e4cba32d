package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/statedir"
)

// offendersWorld runs the daemon over bans for six addresses and stops it:
// 198.51.100.1 (3 bans) is blocked, 198.51.100.2 (2) and 2001:db8::3 (1) are
// not, 203.0.113.40 (2) is inside a range banned by hand, 2001:db8::7 (1) is
// listed in the world's mirror, 192.0.2.10 has the one ban of the world's log.
func offendersWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	if _, err := blocklist.Open(statedir.Mirror(w.cfg.StateDir)).Add(blocklist.Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Added: time.Now(), Manual: true}); err != nil {
		t.Fatal(err)
	}
	stop := w.runDaemon(t)
	now := time.Now().Add(-time.Hour)
	bans := []struct{ jail, addr string }{
		{"sshd", "198.51.100.1"}, {"sshd", "198.51.100.2"}, {"postfix", "198.51.100.1"},
		{"nginx", "2001:db8::3"}, {"postfix", "198.51.100.2"}, {"sshd", "203.0.113.40"},
		{"sshd", "203.0.113.40"}, {"sshd", "2001:db8::7"}, {"nginx", "198.51.100.1"}, // read before the offender is blocked
	}
	for i, b := range bans {
		w.ban(t, now.Add(time.Duration(i)*time.Minute), b.jail, b.addr)
	}
	eventually(t, "198.51.100.1 is blocked", func() bool {
		es, _, _ := blocklist.Open(statedir.Mirror(w.cfg.StateDir)).Load()
		return len(es) == 4
	})
	stop()
	return w
}

func TestOffenders_lists_unblocked_addresses_most_bans_first(t *testing.T) {
	w := offendersWorld(t)
	var out, errOut bytes.Buffer
	args := []string{"recidivist", "offenders", "--state-dir", w.cfg.StateDir, "--threshold", "3", "--window", "1w", "--json"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got []offenderJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("offenders --json: %v\n%s", err, out.String())
	}
	var summary []string
	for _, o := range got {
		summary = append(summary, fmt.Sprintf("%s:%d:%s", o.Address, o.Bans, strings.Join(o.Jails, ",")))
	}
	// 192.0.2.10 and 2001:db8::3 both have one ban: most bans first, then
	// the tracker's order among equals.
	if len(got) != 3 || summary[0] != "198.51.100.2:2:postfix,sshd" {
		t.Fatalf("offenders = %v, want 198.51.100.2 (2 bans) first, then the two one-ban addresses; never the blocked 198.51.100.1, 2001:db8::7 listed in the mirror, nor 203.0.113.40 inside a banned range", summary)
	}
	if !strings.Contains(strings.Join(summary, " "), "2001:db8::3:1:nginx") || !strings.Contains(strings.Join(summary, " "), "192.0.2.10:1:sshd") {
		t.Errorf("offenders = %v, want 2001:db8::3 and 192.0.2.10 with one ban each", summary)
	}
	if got[0].First.IsZero() || !got[0].Last.After(got[0].First) {
		t.Errorf("first/last ban of %s = %v/%v", got[0].Address, got[0].First, got[0].Last)
	}
}

func TestOffenders_top_limits_the_table_and_says_how_many_are_left_out(t *testing.T) {
	w := offendersWorld(t)
	var out, errOut bytes.Buffer
	args := []string{"recidivist", "offenders", "--state-dir", w.cfg.StateDir, "--top", "1"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ADDRESS") || !strings.HasPrefix(lines[1], "198.51.100.2 ") {
		t.Errorf("offenders --top 1 printed:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "1 of 3 addresses shown; --top 0 shows all") {
		t.Errorf("stderr = %q", errOut.String())
	}
}

func TestOffenders_without_history_says_how_to_get_one(t *testing.T) {
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "offenders", "--state-dir", t.TempDir()}, &bytes.Buffer{}, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "start recidivist run, or use recidivist scan FILE") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestOffenders_top_below_zero_is_a_usage_error(t *testing.T) {
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "offenders", "--state-dir", t.TempDir(), "--top", "-1"}, &bytes.Buffer{}, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--top -1") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
