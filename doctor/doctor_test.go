package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

func TestDoctor_finds_each_problem_and_prints_its_fix(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, w *world)
		// problems is how many the breakage must cause; want and fix must
		// appear in the output.
		problems  int
		want, fix string
	}{
		{"a healthy host has no problem", func(*testing.T, *world) {}, 0, "sets hold exactly the mirror's 2 entries", ""},
		{"the log is missing", func(t *testing.T, w *world) { os.Remove(w.cfg.Logs[0]) }, 1,
			"fail2ban.log does not exist", "point log at the file fail2ban writes"},
		{"the log is not readable", func(t *testing.T, w *world) {
			w.doctor.open = func(p string) (*os.File, error) {
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
			}
		}, 1, "is not readable by this user", "run recidivist as root"},
		{"the log is a directory", func(t *testing.T, w *world) { w.cfg.Logs = []string{w.dir} }, 2,
			"cannot be read: not a regular file", "a regular file"},
		{"fail2ban's loglevel hides bans", func(t *testing.T, w *world) {
			write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nloglevel = WARNING\n")
		}, 1, "loglevel = WARNING (set in " + "", "set loglevel = INFO (or NOTICE)"},
		{"fail2ban logs elsewhere", func(t *testing.T, w *world) {
			write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = /var/log/elsewhere.log\n")
		}, 1, "fail2ban logs to /var/log/elsewhere.log", `set log = "/var/log/elsewhere.log"`},
		{"fail2ban is not installed", func(t *testing.T, w *world) { w.doctor.f2bDir = filepath.Join(w.dir, "none") }, 1,
			"fail2ban's configuration " + "", "apt-get install fail2ban"},
		{"no privilege", func(t *testing.T, w *world) { w.doctor.capEff = func() (uint64, error) { return 0, nil } }, 1,
			"no privilege to change ipsets", "run as root (sudo recidivist check)"},
		{"no iptables binary", func(t *testing.T, w *world) {
			w.doctor.lookPath = func(bin string) (string, error) { return "", &exec.Error{Name: bin, Err: exec.ErrNotFound} }
		}, 2, "ip6tables is not installed", "apt-get install iptables"},
		{"no kernel ipset support", func(t *testing.T, w *world) {
			w.fake.FailNext(fmt.Errorf("listing sets: %w", ipsetstore.ErrNoKernelSupport))
		}, 1, "no kernel ipset support", "modprobe ip_set ip_set_hash_net xt_set"},
		{"sets and rules destroyed", func(t *testing.T, w *world) { w.fake.DestroySets() }, 4,
			"set recidivist6 (inet6) does not exist", "sudo recidivist restore"},
		{"rules flushed", func(t *testing.T, w *world) { w.fake.FlushRules() }, 2,
			"no recidivist match rule in INPUT/inet6", "sudo recidivist restore"},
		{"a rule buried under another", func(t *testing.T, w *world) { w.fake.BuryRule("INPUT", ipsetstore.IPv4) }, 1,
			"rule in INPUT/inet is not at the top", "moves the rule to the top"},
		{"a chain missing is pending, not a problem", func(t *testing.T, w *world) { w.fake.RemoveChain("INPUT") }, 0,
			"chain INPUT does not exist yet (inet)", "remove INPUT from chain"},
		{"a mirror entry missing from the set", func(t *testing.T, w *world) {
			if err := w.fake.Del(netip.MustParsePrefix("203.0.113.7/32")); err != nil {
				t.Fatal(err)
			}
		}, 1, "1 mirror entries are not in the sets: 203.0.113.7/32", "sudo recidivist restore makes the sets equal the mirror"},
		{"a set entry missing from the mirror", func(t *testing.T, w *world) {
			if err := w.fake.Add(ipsetstore.Entry{Prefix: netip.MustParsePrefix("198.51.100.9/32")}); err != nil {
				t.Fatal(err)
			}
		}, 1, "1 set entries are not in the mirror: 198.51.100.9/32", "within reconcile-interval 1m"},
		{"a second daemon on the same sets", func(t *testing.T, w *world) {
			w.fakeDaemon(t, 4242, `{"pid":4242,"state-dir":"/srv/other","set-name":"recidivist"}`)
		}, 1, "another recidivist daemon (PID 4242, state dir /srv/other) manages the same sets recidivist and recidivist6", "stop one of them (kill 4242)"},
		{"a second daemon with its own sets is fine", func(t *testing.T, w *world) {
			w.fakeDaemon(t, 4243, `{"pid":4243,"state-dir":"/srv/other","set-name":"other"}`)
		}, 0, "another recidivist daemon (PID 4243, state dir /srv/other) manages other sets (other)", ""},
		{"a second daemon of the previous release, whose lock holds only its PID, is taken to read the same config", func(t *testing.T, w *world) {
			w.fakeDaemon(t, 4245, "4245\n")
		}, 1, "another recidivist daemon (PID 4245, state dir ", "stop one of them (kill 4245)"},
		{"a lock naming another process is no daemon", func(t *testing.T, w *world) {
			w.fakeDaemon(t, 4244, `{"pid":1,"state-dir":"/srv/other","set-name":"recidivist"}`)
		}, 0, "sets hold exactly", ""},
		{"a world-writable mirror", func(t *testing.T, w *world) {
			if err := os.Chmod(statedir.Mirror(w.cfg.StateDir), 0o666); err != nil {
				t.Fatal(err)
			}
		}, 1, "is writable by other users (mode -rw-rw-rw-)", "chmod 600 "},
		{"a symlinked mirror is refused, not read through its link", func(t *testing.T, w *world) {
			path := statedir.Mirror(w.cfg.StateDir)
			target := filepath.Join(w.cfg.StateDir, "blocklist.real")
			if err := os.Rename(path, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, 1, "is a symbolic link", "rm "},
		{"a symlinked state file", func(t *testing.T, w *world) {
			if err := os.Symlink("/etc/shadow", filepath.Join(w.cfg.StateDir, "seen")); err != nil {
				t.Fatal(err)
			}
		}, 1, "seen is a symbolic link", "rm "},
		{"a symlinked lock", func(t *testing.T, w *world) {
			if err := os.Symlink("/etc/shadow", statedir.Lock(w.cfg.StateDir)); err != nil {
				t.Fatal(err)
			}
		}, 1, "lock is a symbolic link", "rm "},
		{"a bad line in the mirror", func(t *testing.T, w *world) {
			f, err := os.OpenFile(statedir.Mirror(w.cfg.StateDir), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(f, "not-an-address")
			f.Close()
		}, 1, "not-an-address", "correct or delete that line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.break_(t, w)
			n := w.run()
			out := w.out.String()
			if n != tc.problems || strings.Count(out, "PROBLEM") != tc.problems {
				t.Errorf("found %d problems (%d printed), want %d:\n%s", n, strings.Count(out, "PROBLEM"), tc.problems, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if tc.fix != "" && !givesFix(out, tc.fix) {
				t.Errorf("output does not give the fix %q on a fix line:\n%s", tc.fix, out)
			}
		})
	}
}

// TestDoctor_lists_every_mirror_line_the_policy_refuses: a hand-added line
// that would block loopback, everything, an ignored address or an unmarked
// wide range is a problem, named by file:line with its fix.
func TestDoctor_lists_every_mirror_line_the_policy_refuses(t *testing.T) {
	w := newWorld(t)
	w.cfg.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32")}
	path := statedir.Mirror(w.cfg.StateDir)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Lines 3 to 8; lines 1 and 2 are the world's two good entries.
	fmt.Fprint(f, "127.0.0.1 localhost\n0.0.0.0/0\n::/0\n10.0.0.0/8\n192.0.2.50\n224.0.0.1\n")
	f.Close()
	n := w.run()
	out := w.out.String()
	if n != 6 {
		t.Errorf("found %d problems, want 6 (one per refused line):\n%s", n, out)
	}
	for line := 3; line <= 8; line++ {
		if !strings.Contains(out, fmt.Sprintf("%s:%d: ", path, line)) {
			t.Errorf("line %d is not reported:\n%s", line, out)
		}
	}
	if !strings.Contains(out, "recidivist ban --force 10.0.0.0/8") || !strings.Contains(out, "remove 192.0.2.50 from the ignore setting") {
		t.Errorf("the fixes are not given:\n%s", out)
	}
	if !strings.Contains(out, "sets hold exactly the mirror's 2 entries") {
		t.Errorf("the refused lines count as entries in force:\n%s", out)
	}
}

func TestDoctor_without_privilege_skips_the_kernel_rather_than_failing_on_it(t *testing.T) {
	w := newWorld(t)
	w.doctor.capEff = func() (uint64, error) { return 0, nil }
	w.doctor.store = func() (ipsetstore.Store, error) {
		t.Error("the doctor touched the kernel without privilege")
		return nil, errors.New("unreachable")
	}
	w.run()
	if strings.Contains(w.out.String(), "set recidivist") {
		t.Errorf("kernel results printed without privilege:\n%s", w.out.String())
	}
}

// TestDoctor_against_the_kernel runs the kernel checks on real sets and rules
// in a fresh network namespace: missing before restore, healthy after,
// drift after an entry is deleted behind the daemon's back.
func TestDoctor_against_the_kernel(t *testing.T) {
	netnstest.Enter(t)
	w := newWorld(t)
	store, err := ipsetstore.New(ipsetstore.Config{SetName: "rcdvck", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	w.cfg.SetName = "rcdvck"
	w.doctor.store = func() (ipsetstore.Store, error) { return store, nil }
	w.doctor.capEff = privilege.CapEff
	w.doctor.lookPath = exec.LookPath

	if n := w.run(); n != 4 || !strings.Contains(w.out.String(), "set rcdvck (inet) does not exist") {
		t.Fatalf("before restore: %d problems, want 4 (two sets, two rules):\n%s", n, w.out)
	}
	entries, _, err := blocklist.Open(statedir.Mirror(w.cfg.StateDir)).Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Restore(store, entries, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	w.out.Reset()
	if n := w.run(); n != 0 {
		t.Fatalf("after restore: %d problems, want 0:\n%s", n, w.out)
	}
	if err := store.Del(netip.MustParsePrefix("2001:db8::7/128")); err != nil {
		t.Fatal(err)
	}
	w.out.Reset()
	if n := w.run(); n != 1 || !strings.Contains(w.out.String(), "1 mirror entries are not in the sets: 2001:db8::7/128") {
		t.Fatalf("after a deletion in the kernel: %d problems, want the drift:\n%s", n, w.out)
	}
}

func TestDoctor_warns_that_a_syslog_file_lets_any_user_forge_ban_lines(t *testing.T) {
	syslogBan := func(at time.Time) string {
		return at.Format("2006-01-02T15:04:05.000000-07:00") + " vm fail2ban.actions[9723]: NOTICE [sshd] Ban 192.0.2.10\n"
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T, w *world)
		warned bool
	}{
		{"fail2ban's own log file", func(*testing.T, *world) {}, false},
		{"ban lines under a syslog prefix", func(t *testing.T, w *world) {
			write(t, w.cfg.Logs[0], syslogBan(time.Now().Add(-time.Minute)))
		}, true},
		{"fail2ban logs to syslog", func(t *testing.T, w *world) {
			write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = SYSLOG\n")
		}, true},
		{"a syslog file with no ban line yet", func(t *testing.T, w *world) {
			w.cfg.Logs = []string{filepath.Join(w.dir, "messages")}
			write(t, w.cfg.Logs[0], "2026-11-24T15:53:23.380751+00:00 vm systemd[1]: Started something.\n")
			write(t, filepath.Join(w.dir, "fail2ban", "fail2ban.local"), "[Definition]\nlogtarget = "+w.cfg.Logs[0]+"\n")
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(t, w)
			found := w.doctor.Run(context.Background())
			out := w.out.String()
			if found.Problems != 0 {
				t.Errorf("found %d problems, want none (a warning is no problem):\n%s", found.Problems, out)
			}
			warned := strings.Contains(out, "WARNING") && strings.Contains(out, "logger")
			if warned != tc.warned {
				t.Fatalf("warned about forged lines: %v, want %v:\n%s", warned, tc.warned, out)
			}
			if want := map[bool]int{true: 1}[tc.warned]; found.Warnings != want {
				t.Errorf("counted %d warnings, want %d:\n%s", found.Warnings, want, out)
			}
			if tc.warned && (!givesFix(out, "logtarget = /var/log/fail2ban.log") || !givesFix(out, "journal")) {
				t.Errorf("the warning does not name the safer sources on its fix line:\n%s", out)
			}
		})
	}
}

func TestDoctor_reports_how_the_export_is_protected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*config.Config)
		want  string
	}{
		{"no_export_says_nothing", func(*config.Config) {}, ""},
		{"a_loopback_export_without_auth_is_noted", func(c *config.Config) { c.ExportListen = "127.0.0.1:9733" },
			"note     export: 127.0.0.1:9733 serves the blocklist to any local user"},
		{"a_token_and_allow_list_are_named", func(c *config.Config) {
			c.ExportListen, c.ExportTokenFile, c.ExportToken = "192.0.2.10:9733", "/etc/recidivist/export-token", "tok"
			c.ExportAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		}, "ok       export: 192.0.2.10:9733 serves the blocklist; clients need the token from /etc/recidivist/export-token (mode 0600 or stricter) or the allow list of 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w.cfg)
			w.run()
			out := w.out.String()
			if tc.want == "" {
				if strings.Contains(out, "export:") {
					t.Errorf("output mentions an export that is off:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "tok\n") || strings.Contains(out, " tok ") {
				t.Errorf("output shows the token:\n%s", out)
			}
		})
	}
}
