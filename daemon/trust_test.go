package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

// writeMirror replaces the mirror as an editor does: a new file renamed over it.
func (h *harness) writeMirror(content string) {
	h.t.Helper()
	path := statedir.Mirror(h.cfg.StateDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		h.t.Fatal(err)
	}
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		h.t.Fatal(err)
	}
}

func TestDaemon_starts_with_a_hostile_mirror_and_puts_only_its_good_lines_in_force(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32")} })
	h.writeMirror("198.51.100.7\n127.0.0.1 localhost\n::1\n0.0.0.0\n255.255.255.255\n224.0.0.1\n10.0.0.0/8\n192.0.2.50\n0.0.0.0/0\n::/0\n2001:db8:bad::/48\n")
	h.start()
	h.eventually("the good lines in the sets", func() bool { return h.inSet("198.51.100.7") && h.inSet("2001:db8:bad::/48") })
	es, err := h.fake.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Errorf("sets hold %v, want only the two good lines", es)
	}
	select {
	case err := <-h.done:
		t.Fatalf("the daemon stopped: %v", err)
	default:
	}
}

// TestDaemon_a_live_hand_edit_adding_everything_and_a_good_line_applies_the_good_line:
// one 0.0.0.0/0 line made every reconcile fail, so no later edit was applied.
func TestDaemon_a_live_hand_edit_adding_everything_and_a_good_line_applies_the_good_line(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.writeMirror("0.0.0.0/0\n198.51.100.7\n::/0\n")
	h.eventually("the good line in the set", func() bool { return h.inSet("198.51.100.7") })
	h.writeMirror("0.0.0.0/0\n198.51.100.7\n::/0\n203.0.113.9 # later\n")
	h.eventually("a later good line in the set", func() bool { return h.inSet("203.0.113.9") })
	logs := h.logs.String()
	if !strings.Contains(logs, statedir.Mirror(h.cfg.StateDir)+":1: ") || !strings.Contains(logs, "would block every address") {
		t.Errorf("the refused line is not reported with file:line and why:\n%s", logs)
	}
	if strings.Contains(logs, "reconcile: making the kernel equal the mirror") {
		t.Errorf("a reconcile failed:\n%s", logs)
	}
}

// TestDaemon_logs_a_bad_line_by_a_short_escaped_prefix: the mirror may hold
// anything; the log gets a bounded, escaped start of a bad line.
func TestDaemon_logs_a_bad_line_by_a_short_escaped_prefix(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	long := "\x1b]0;owned\x07" + strings.Repeat("secret", 400)
	h.writeMirror(long + "\n198.51.100.7\n")
	h.eventually("the good line in the set", func() bool { return h.inSet("198.51.100.7") })
	logs := h.logs.String()
	if strings.Count(logs, "secret") > 20 || strings.ContainsAny(logs, "\x1b\x07") {
		t.Errorf("a bad line was logged unbounded or unescaped (%d bytes of log):\n%.400s", len(logs), logs)
	}
	if !strings.Contains(logs, statedir.Mirror(h.cfg.StateDir)+":1: ") {
		t.Errorf("the bad line is not reported:\n%s", logs)
	}
}

func TestDaemon_a_reload_that_ignores_a_listed_address_takes_it_out_of_the_kernel(t *testing.T) {
	h := newHarness(t, nil)
	h.writeMirror("198.51.100.7\n203.0.113.9\n")
	h.start()
	h.eventually("both lines in the set", func() bool { return h.inSet("198.51.100.7") && h.inSet("203.0.113.9") })
	cfg := *h.cfg
	cfg.Ignore = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	h.d.Reload(&cfg)
	h.d.Reconcile()
	h.eventually("the ignored address out of the set", func() bool { return !h.inSet("203.0.113.9") })
	if !h.inSet("198.51.100.7") {
		t.Error("the other line left the set")
	}
}

// TestDaemon_never_follows_a_symlink_in_the_state_dir: a link in place of a
// state file could point anywhere (/etc/shadow); the daemon refuses to start
// with the fix, and neither reads, logs, writes nor chmods the target.
func TestDaemon_never_follows_a_symlink_in_the_state_dir(t *testing.T) {
	for _, name := range []string{"blocklist", "seen", watcher.StateFile, watcher.JournalFile, "lock"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			const secret = "root:$y$j9T$secret:19000:0:99999:7:::\n"
			target := filepath.Join(t.TempDir(), "shadow")
			if err := os.WriteFile(target, []byte(secret), 0o640); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(h.cfg.StateDir, name)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			d, err := New(h.cfg, Options{Store: h.fake, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: h.clock.now})
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err = d.Run(ctx)
				cancel()
			}
			if !errors.Is(err, blocklist.ErrSymlink) || !strings.Contains(err.Error(), "rm "+link) {
				t.Errorf("start with %s a symlink: err = %v, want ErrSymlink with the fix", name, err)
			}
			if err != nil && strings.Contains(err.Error()+h.logs.String(), "secret") {
				t.Errorf("the target's content leaked: %v\n%s", err, h.logs.String())
			}
			fi, serr := os.Stat(target)
			if serr != nil {
				t.Fatal(serr)
			}
			if b, _ := os.ReadFile(target); string(b) != secret || fi.Mode().Perm() != 0o640 {
				t.Errorf("the target changed: mode %v, %q", fi.Mode().Perm(), b)
			}
		})
	}
}

// TestDaemon_a_mirror_of_many_bad_lines_is_summarized_not_logged_line_by_line:
// every reconcile reads the whole mirror; a pasted file of thousands of bad
// lines must not flood the journal at each one.
func TestDaemon_a_mirror_of_many_bad_lines_is_summarized_not_logged_line_by_line(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.writeMirror(strings.Repeat("127.0.0.1 localhost\n", 500) + "198.51.100.7\n")
	h.eventually("the good line in the set", func() bool { return h.inSet("198.51.100.7") })
	logs := h.logs.String()
	if n := strings.Count(logs, "127.0.0.1 is in"); n > blocklist.ReportLines {
		t.Errorf("%d refused lines logged one by one, want at most %d", n, blocklist.ReportLines)
	}
	if !strings.Contains(logs, "more=480") || !strings.Contains(logs, "recidivist check") {
		t.Errorf("the rest is not summarized:\n%.2000s", logs)
	}
}
