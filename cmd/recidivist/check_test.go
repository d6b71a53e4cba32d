package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/statedir"
)

// world is a healthy host for the doctor: a log with a Ban line, fail2ban
// configured to write it at INFO, privilege, iptables, sets and rules that
// hold exactly the mirror, no other daemon. Each test breaks one thing.
type world struct {
	dir    string
	cfg    *config.Config
	fake   *ipsettest.Fake
	doctor *doctor
	out    *bytes.Buffer
}

func f2bLine(at time.Time, jail, addr string) string {
	return fmt.Sprintf("%s,%03d fail2ban.actions        [9091]: NOTICE  [%s] Ban %s\n",
		at.Format("2006-01-02 15:04:05"), at.Nanosecond()/1e6, jail, addr)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults() // what a command gets with no flag, variable or file
	cfg.Logs = []string{filepath.Join(dir, "fail2ban.log")}
	cfg.StateDir = filepath.Join(dir, "state")
	write(t, cfg.Logs[0], f2bLine(time.Now().Add(-time.Minute), "sshd", "192.0.2.10"))
	write(t, filepath.Join(dir, "fail2ban", "fail2ban.conf"), "[Definition]\nloglevel = INFO\nlogtarget = "+cfg.Logs[0]+"\n")
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mirror := blocklist.Open(statedir.Mirror(cfg.StateDir))
	entries, err := mirror.Add(blocklist.Entry{Prefix: netip.MustParsePrefix("203.0.113.7/32"), Added: time.Now(), Jails: []string{"sshd"}, Bans: 3},
		blocklist.Entry{Prefix: netip.MustParsePrefix("2001:db8::7/128"), Added: time.Now(), Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := ipsettest.New(host.StoreConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Restore(fake, entries, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	d := newDoctor(cfg, out)
	d.f2bDir = filepath.Join(dir, "fail2ban")
	d.capEff = func() (uint64, error) { return 1 << privilege.CapNetAdmin, nil }
	d.lookPath = func(bin string) (string, error) { return "/usr/sbin/" + bin, nil }
	d.store = func() (ipsetstore.Store, error) { return fake, nil }
	d.procDir = filepath.Join(dir, "proc")
	return &world{dir: dir, cfg: cfg, fake: fake, doctor: d, out: out}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeDaemon makes process pid of the doctor's /proc hold a daemon lock
// that says lock: an open file STATE-DIR/lock in /proc/PID/fd, which this
// test process holds locked as that daemon would.
func (w *world) fakeDaemon(t *testing.T, pid int, lock string) {
	t.Helper()
	dir := filepath.Join(w.dir, "daemons", fmt.Sprint(pid))
	write(t, statedir.Lock(dir), lock)
	f, err := os.Open(statedir.Lock(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fd := filepath.Join(w.dir, "proc", fmt.Sprint(pid), "fd")
	if err := os.MkdirAll(fd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(statedir.Lock(dir), filepath.Join(fd, "3")); err != nil {
		t.Fatal(err)
	}
}

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
		{"a chain missing", func(t *testing.T, w *world) { w.fake.RemoveChain("INPUT") }, 2,
			"chain INPUT does not exist (inet)", "remove INPUT from chain"},
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
			n := w.doctor.run()
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
	n := w.doctor.run()
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

// givesFix reports whether one of the doctor's "fix:" lines in out says fix.
func givesFix(out, fix string) bool {
	for line := range strings.Lines(out) {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "fix: "); ok && strings.Contains(f, fix) {
			return true
		}
	}
	return false
}

func TestDoctor_without_privilege_skips_the_kernel_rather_than_failing_on_it(t *testing.T) {
	w := newWorld(t)
	w.doctor.capEff = func() (uint64, error) { return 0, nil }
	w.doctor.store = func() (ipsetstore.Store, error) {
		t.Error("the doctor touched the kernel without privilege")
		return nil, errors.New("unreachable")
	}
	w.doctor.run()
	if strings.Contains(w.out.String(), "set recidivist") {
		t.Errorf("kernel results printed without privilege:\n%s", w.out.String())
	}
}

func TestCheck_exits_2_naming_key_value_and_what_is_allowed_for_a_bad_config_file(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", "treshold = 3\n", []string{"treshold", "no such key", "threshold"}},
		{"wrong type", "threshold = \"three\"\n", []string{"threshold", "three"}},
		{"bad duration", "window = \"1fortnight\"\n", []string{"window", "1fortnight", "duration"}},
		{"bad cidr", "ignore = [\"10.0.0.0/33\"]\n", []string{"ignore", "10.0.0.0/33"}},
		{"set name too long", "set-name = \"" + strings.Repeat("x", 31) + "\"\n", []string{"set-name", strings.Repeat("x", 31), "31"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recidivist.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"recidivist", "check", "--config", path}, io.Discard, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
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

	if n := w.doctor.run(); n != 4 || !strings.Contains(w.out.String(), "set rcdvck (inet) does not exist") {
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
	if n := w.doctor.run(); n != 0 {
		t.Fatalf("after restore: %d problems, want 0:\n%s", n, w.out)
	}
	if err := store.Del(netip.MustParsePrefix("2001:db8::7/128")); err != nil {
		t.Fatal(err)
	}
	w.out.Reset()
	if n := w.doctor.run(); n != 1 || !strings.Contains(w.out.String(), "1 mirror entries are not in the sets: 2001:db8::7/128") {
		t.Fatalf("after a deletion in the kernel: %d problems, want the drift:\n%s", n, w.out)
	}
}

// TestDoctor_finds_a_second_daemon_among_real_processes starts a process
// that holds the daemon lock of another state dir, for the same sets.
func TestDoctor_finds_a_second_daemon_among_real_processes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	cmd := exec.Command(exe)
	cmd.Args = []string{filepath.Join(t.TempDir(), "recidivist"), "run"}
	cmd.Env = append(os.Environ(), "RECIDIVIST_TEST_IDLE=1", "RECIDIVIST_TEST_LOCK="+elsewhere, "RECIDIVIST_TEST_SET_NAME=recidivist")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	w := newWorld(t)
	w.doctor.procDir = "/proc"
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.out.Reset()
		w.doctor.checkDaemons()
		want := fmt.Sprintf("another recidivist daemon (PID %d, state dir %s) manages the same sets", cmd.Process.Pid, elsewhere)
		if strings.Contains(w.out.String(), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the doctor did not find PID %d:\n%s", cmd.Process.Pid, w.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMain lets the test binary stand in for a running daemon process.
func TestMain(m *testing.M) {
	if os.Getenv("RECIDIVIST_TEST_IDLE") == "1" {
		if dir := os.Getenv("RECIDIVIST_TEST_LOCK"); dir != "" {
			// Held until the process exits, as a daemon holds it.
			if _, err := statedir.Acquire(dir, os.Getenv("RECIDIVIST_TEST_SET_NAME")); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCheck_reports_the_example_config_valid(t *testing.T) {
	example, err := os.ReadFile("../../examples/recidivist.toml")
	if err != nil {
		t.Fatalf("the example config: %v", err)
	}
	// A copy: a checkout made under umask 002 would leave the example
	// group-writable, which recidivist rightly refuses.
	path := filepath.Join(t.TempDir(), "recidivist.toml")
	if err := os.WriteFile(path, example, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		netnstest.Enter(t) // the kernel checks look at a fresh namespace, not the host
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "check", "--config", path, "--state-dir", t.TempDir(), "--fail2ban-config", t.TempDir()}, &out, &errOut)
	if code == 2 || !strings.Contains(out.String(), "ok       config: "+path+" is valid") {
		t.Errorf("check --config examples/recidivist.toml: exit %d\n%s%s", code, out.String(), errOut.String())
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
			n := w.doctor.run()
			out := w.out.String()
			if n != 0 {
				t.Errorf("found %d problems, want none (a warning is no problem):\n%s", n, out)
			}
			warned := strings.Contains(out, "WARNING") && strings.Contains(out, "logger")
			if warned != tc.warned {
				t.Fatalf("warned about forged lines: %v, want %v:\n%s", warned, tc.warned, out)
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
			w.doctor.run()
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
