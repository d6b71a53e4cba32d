package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

// runDaemon runs the daemon of w on its fake kernel until the test ends or
// the returned stop is called.
func (w *world) runDaemon(t *testing.T) (stop func()) {
	t.Helper()
	d, err := daemon.New(w.cfg, daemon.Options{Store: w.fake, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop within 10s")
		}
	}
	t.Cleanup(stop)
	eventually(t, "the daemon holds the lock", func() bool {
		h, _, _ := statedir.ReadHolder(w.cfg.StateDir)
		return h.PID == os.Getpid()
	})
	return stop
}

func (w *world) ban(t *testing.T, at time.Time, jail, addr string) {
	t.Helper()
	f, err := os.OpenFile(w.cfg.Logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(f2bLine(at, jail, addr)); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStatus_reports_the_daemon_kernel_mirror_and_log_while_running_and_after(t *testing.T) {
	w := newWorld(t)
	stop := w.runDaemon(t)
	now := time.Now()
	for i, jail := range []string{"sshd", "postfix", "sshd"} {
		w.ban(t, now.Add(time.Duration(i)*time.Second), jail, "198.51.100.23")
	}
	w.ban(t, now, "nginx", "2001:db8::99")
	w.ban(t, now, "sshd", "999.1.2.3") // not an address: skipped, counted
	eventually(t, "the offender is blocked", func() bool {
		st := readStatus(w.cfg, w.fake, nil, time.Now())
		return st.Mirror.Entries == 3 && st.Watcher != nil && st.Watcher.Tracked >= 2
	})

	st := readStatus(w.cfg, w.fake, nil, time.Now())
	if !st.Daemon.Running || st.Daemon.PID != os.Getpid() {
		t.Errorf("daemon = %+v, want running as PID %d", st.Daemon, os.Getpid())
	}
	if st.Kernel == nil || !st.Kernel.Healthy {
		t.Fatalf("kernel = %+v, want healthy", st.Kernel)
	}
	for _, s := range st.Kernel.Sets {
		want := map[string]int{"inet": 2, "inet6": 1}[s.Family] // 203.0.113.7 + the offender; 2001:db8::7
		if !s.Exists || s.Entries != want || s.Mirror != want {
			t.Errorf("set %+v, want %d entries in the set and the mirror", s, want)
		}
	}
	if st.Mirror.IPv4 != 2 || st.Mirror.IPv6 != 1 {
		t.Errorf("mirror = %+v, want 2 IPv4 and 1 IPv6", st.Mirror)
	}
	if len(st.Watcher.Logs) != 1 || !strings.Contains(st.Watcher.Logs[0].LastBanLine, "Ban ") || st.Watcher.Logs[0].LastBan == nil {
		t.Errorf("logs = %+v, want the last ban line and its time", st.Watcher.Logs)
	}

	var out bytes.Buffer
	st.print(&out)
	for _, want := range []string{
		fmt.Sprintf("daemon:   running (PID %d)", os.Getpid()),
		"rule:     INPUT/inet present", "rule:     INPUT/inet6 present",
		"set:      recidivist (inet) 2 entries, mirror 2\n",
		"mirror:   " + statedir.Mirror(w.cfg.StateDir) + ", 3 entries (2 IPv4, 1 IPv6)",
		"tracked:  ",
		"log:      " + w.cfg.Logs[0] + " read to byte",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, out.String())
		}
	}

	stop()
	w.fake.FlushRules()
	st = readStatus(w.cfg, w.fake, nil, time.Now())
	out.Reset()
	st.print(&out)
	// The world's log began with one ban line; then four bans and a bad one.
	if s := st.Watcher.Stats; s == nil || s.Lines != 6 || s.Bans != 5 || s.BansByJail["sshd"] != 3 || s.Skipped["bad-address"] != 1 {
		t.Errorf("stats after stop = %+v, want 6 lines, 5 bans (3 sshd), 1 bad-address", s)
	}
	if !strings.Contains(out.String(), "lines:    6 read, 5 countable bans, 0 filtered, 1 skipped (bad-address 1)") {
		t.Errorf("status does not show the line counts:\n%s", out.String())
	}
	if st.Daemon.Running || !strings.Contains(out.String(), "daemon:   not running") {
		t.Errorf("after stop, status says:\n%s", out.String())
	}
	if st.Watcher == nil || st.Watcher.Tracked < 2 {
		t.Errorf("after stop, the saved history is not shown: %+v", st.Watcher)
	}
	if st.Kernel.Healthy || !strings.Contains(out.String(), "rule:     INPUT/inet MISSING") {
		t.Errorf("a flushed chain is not reported:\n%s", out.String())
	}
}

func TestStatus_without_root_reports_the_rest_and_says_the_kernel_needs_root(t *testing.T) {
	w := newWorld(t)
	kerr := fmt.Errorf("%w: changing ipsets and iptables rules needs root", ipsetstore.ErrNotPermitted)
	st := readStatus(w.cfg, nil, kerr, time.Now())
	if st.Kernel != nil {
		t.Errorf("kernel reported without a store: %+v", st.Kernel)
	}
	if st.Mirror.Entries != 2 {
		t.Errorf("mirror entries = %d, want 2", st.Mirror.Entries)
	}
	var out bytes.Buffer
	st.print(&out)
	for _, want := range []string{"daemon:   not running", "note:     kernel not read: operation not permitted", "run as root", "no watcher state yet"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, out.String())
		}
	}
}

func TestStatus_json_has_the_documented_field_names(t *testing.T) {
	w := newWorld(t)
	st := readStatus(w.cfg, w.fake, nil, time.Now())
	var buf bytes.Buffer
	if err := writeJSON(&buf, st); err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatalf("status --json is not an object: %v\n%s", err, buf.String())
	}
	got := map[string]map[string]any{}
	for _, section := range []string{"daemon", "kernel", "mirror"} {
		var m map[string]any
		if err := json.Unmarshal(raw[section], &m); err != nil {
			t.Fatalf("status --json %s: %v", section, err)
		}
		got[section] = m
	}
	want := map[string][]string{
		"daemon": {"running", "state_dir"},
		"kernel": {"healthy", "sets", "rules"},
		"mirror": {"path", "entries", "ipv4", "ipv6", "bad_lines"},
	}
	for section, keys := range want {
		for _, k := range keys {
			if _, ok := got[section][k]; !ok {
				t.Errorf("status --json lacks %s.%s:\n%s", section, k, buf.String())
			}
		}
	}
	set := got["kernel"]["sets"].([]any)[0].(map[string]any)
	var setKeys []string
	for k := range set {
		setKeys = append(setKeys, k)
	}
	slices.Sort(setKeys)
	if strings.Join(setKeys, ",") != "entries,exists,family,maxelem,mirror_entries,name" {
		t.Errorf("a set in status --json has fields %v", setKeys)
	}
}

func TestStatus_command_runs_without_a_daemon_or_state(t *testing.T) {
	want := "needs root" // without root, the kernel part is explained
	if os.Geteuid() == 0 {
		netnstest.Enter(t) // as root, a fresh namespace: no sets, no rules
		want = "rule:     INPUT/inet MISSING"
	}
	var out bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "status", "--state-dir", t.TempDir()}, &out, io.Discard)
	if code != 0 || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "daemon:   not running") {
		t.Errorf("exit %d, want 0 and %q in:\n%s", code, want, out.String())
	}
}
