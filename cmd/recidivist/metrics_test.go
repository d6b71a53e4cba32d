package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vishvananda/netns"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/internal/testenv"
	"github.com/recidivist/recidivist/statedir"
)

// asDaemonEnv, set to 1 in the environment of a re-executed test binary,
// makes that process the recidivist command itself, with its own os.Args.
// The metrics tests run the daemon that way, as a process of its own, because
// a process started from the test's locked thread is wholly inside the test's
// network namespace, all its threads included; the daemon run in-process
// would reach the kernel from threads that are not.
const asDaemonEnv = "RECIDIVIST_TEST_AS_DAEMON"

func init() {
	if os.Getenv(asDaemonEnv) == "1" {
		main() // exits
	}
}

// daemonProc is `recidivist run` running as a child process inside a
// network namespace.
type daemonProc struct {
	cmd    *exec.Cmd
	output *testenv.Buffer // its stdout and stderr
	exited chan error      // receives Wait's result once
	gone   bool            // the exit was already received and reported
	url    string          // of the metrics, when served
	client *http.Client
}

// startDaemon runs `recidivist run --log-format json ARGS` in the namespace
// of the calling goroutine's locked thread (netnstest.Enter) and waits until
// it holds the lock of stateDir, by which time it serves metrics if told to.
// At cleanup it sends SIGTERM and expects a clean exit.
func startDaemon(t *testing.T, stateDir string, args ...string) *daemonProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{output: &testenv.Buffer{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(exe)
	d.cmd.Args = append([]string{"recidivist", "run", "--log-format", "json", "--state-dir", stateDir}, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECIDIVIST_") { // the host's settings must not leak in
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	d.cmd.Env = append(d.cmd.Env, asDaemonEnv+"=1")
	d.cmd.Stdout = d.output
	d.cmd.Stderr = d.output
	// The child is forked from this goroutine's thread, so it is born in
	// that thread's namespace.
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting the daemon: %v", err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	d.await(t, "the daemon to hold the lock of its state dir", func() bool {
		h, _, err := statedir.ReadHolder(stateDir)
		return err == nil && h.PID == d.cmd.Process.Pid
	})
	return d
}

// await polls cond for at most 10s, failing at once if the daemon exits.
func (d *daemonProc) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		select {
		case err := <-d.exited:
			d.gone = true
			t.Fatalf("the daemon exited (%v) while the test waited for %s:\n%s", err, what, d.output)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, d.output)
		}
	}
}

// startMetricsDaemon is startDaemon with --metrics-listen 127.0.0.1:0; it
// finds the port in the daemon's log and readies a client that connects
// from inside ns.
func startMetricsDaemon(t *testing.T, ns netns.NsHandle, stateDir string, args ...string) *daemonProc {
	t.Helper()
	d := startDaemon(t, stateDir, append([]string{"--metrics-listen", "127.0.0.1:0"}, args...)...)
	addr := ""
	d.await(t, "the daemon to log where it serves metrics", func() bool {
		addr = d.loggedAddr(t)
		return addr != ""
	})
	d.url = "http://" + addr + "/metrics"
	d.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// 127.0.0.1 is the namespace's loopback: connect from a thread in it.
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var conn net.Conn
				err := netnstest.InNamespace(ns, func() error {
					var err error
					conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return conn, err
			},
		},
	}
	return d
}

// loggedAddr finds the address in the daemon's "serving metrics" log record.
func (d *daemonProc) loggedAddr(t *testing.T) string {
	t.Helper()
	for line := range strings.Lines(d.output.String()) {
		var rec struct{ Msg, Addr string }
		if !strings.HasSuffix(line, "\n") || json.Unmarshal([]byte(line), &rec) != nil {
			continue // not a whole JSON record (yet)
		}
		if rec.Msg == "serving metrics" {
			return rec.Addr
		}
	}
	return ""
}

func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if d.gone {
		return
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("stopping the daemon: %v", err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("the daemon did not stop cleanly on SIGTERM (%v):\n%s", err, d.output)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill() //nolint:errcheck // the error below is the one to report
		t.Errorf("the daemon did not stop within 10s of SIGTERM:\n%s", d.output)
	}
}

// listeners returns the TCP sockets the process pid listens on, read from
// /proc/PID/net, which shows the process's own network namespace.
func listeners(t *testing.T, pid int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	for _, file := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(raw)) {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" { // the header, or not TCP_LISTEN
				continue
			}
			ap, err := procAddrPort(f[1])
			if err != nil {
				t.Fatalf("/proc/%d/net/%s: %v", pid, file, err)
			}
			out = append(out, ap)
		}
	}
	return out
}

// procAddrPort reads /proc/net/tcp's "0100007F:1F90": the address in
// 32-bit words of host (little-endian) order, the port in hex.
func procAddrPort(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	b, err := hex.DecodeString(hexAddr)
	if !ok || err != nil || len(b) != 4 && len(b) != 16 {
		return netip.AddrPort{}, fmt.Errorf("reading socket address %q", s)
	}
	for w := 0; w < len(b); w += 4 {
		slices.Reverse(b[w : w+4])
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading socket port %q: %w", s, err)
	}
	addr, _ := netip.AddrFromSlice(b) // 4 or 16 bytes, checked above
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// samples is one scrape, flattened: `name{label="value",...}` (labels
// sorted) to value; a histogram gives its _count and _sum.
type samples map[string]float64

func (d *daemonProc) scrape(t *testing.T) samples {
	t.Helper()
	resp, err := d.client.Get(d.url)
	if err != nil {
		t.Fatalf("scraping %s: %v\ndaemon log:\n%s", d.url, err, d.output)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s", d.url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape of %s: %v", d.url, err)
	}
	s := samples{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			key := sampleKey(name, m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s[key] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				s[key] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				s[sampleKey(name+"_count", m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
				s[sampleKey(name+"_sum", m.GetLabel())] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return s
}

func sampleKey(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels))
	for _, l := range labels {
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// String lists the recidivist samples, for failure messages.
func (s samples) String() string {
	var lines []string
	for k, v := range s {
		if strings.HasPrefix(k, "recidivist_") {
			lines = append(lines, fmt.Sprintf("  %s %g", k, v))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// waitFor scrapes until cond holds, for at most 10s, and returns that scrape.
func (d *daemonProc) waitFor(t *testing.T, what string, cond func(samples) bool) samples {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := d.scrape(t)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last scrape:\n%s\ndaemon log:\n%s", what, s, d.output)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appendLog appends lines, each with its newline, to the log at path.
func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// want is an expected change between two scrapes: the sample key and by how
// much it moved.
type want struct {
	key   string
	delta float64
}

func checkDeltas(t *testing.T, stage string, before, after samples, wants []want) {
	t.Helper()
	for _, w := range wants {
		if got := after[w.key] - before[w.key]; got != w.delta {
			t.Errorf("%s: %s moved by %g (from %g to %g), want %g", stage, w.key, got, before[w.key], after[w.key], w.delta)
		}
	}
}

// TestMetrics_move_as_bans_arrive_at_a_running_daemon runs the real daemon
// in a fresh network namespace, feeds its log genuine-format lines in
// stages, and checks after each stage that every metric the contract names
// moved by exactly what the lines (or the flushed rule) call for.
func TestMetrics_move_as_bans_arrive_at_a_running_daemon(t *testing.T) {
	ns := netnstest.Enter(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "fail2ban.log")
	write(t, logPath, "")
	d := startMetricsDaemon(t, ns, filepath.Join(dir, "state"), "--log", logPath,
		"--set-name", "rcdvmetrics", "--reconcile-interval", "1s")
	if got, want := listeners(t, d.cmd.Process.Pid), strings.TrimSuffix(strings.TrimPrefix(d.url, "http://"), "/metrics"); len(got) != 1 || got[0].String() != want {
		t.Errorf("the daemon listens on %v, want only the metrics address %s", got, want)
	}
	const set4, set6 = `recidivist_set_entries{set="rcdvmetrics"}`, `recidivist_set_entries{set="rcdvmetrics6"}`

	base := d.waitFor(t, "a reconcile to count the entries of both sets", func(s samples) bool {
		_, ok4 := s[set4]
		_, ok6 := s[set6]
		return ok4 && ok6
	})
	if base[set4] != 0 || base[set6] != 0 || base["recidivist_mirror_entries"] != 0 {
		t.Fatalf("a first start on an empty state dir has entries:\n%s", base)
	}

	// Stage 1: bans below the threshold, an excluded jail, an Unban and four
	// malformed lines, one of each kind.
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	stamp := t0.Format("2006-01-02 15:04:05,000")
	stage1 := []string{
		f2bLine(t0.Add(-3*time.Second), "sshd", "198.51.100.23"),
		f2bLine(t0.Add(-2*time.Second), "postfix", "198.51.100.23"),
		f2bLine(t0.Add(-2*time.Second), "nginx", "2001:db8::99"),
		f2bLine(t0.Add(-time.Second), "nginx", "2001:db8::99"),
		f2bLine(t0, "recidive", "203.0.113.50"),
		stamp + " fail2ban.actions        [9091]: NOTICE  [sshd] Unban 192.0.2.1",
		stamp + " fail2ban.actions        [9091]: NOTICE  [sshd] Ban 198.51.100.256",
		stamp + " fail2ban.actions        [9091]: NOTICE  [] Ban 192.0.2.8",
		stamp + " fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.9\x00\x00\x00",
		stamp + " fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.\xff\xfe",
	}
	appendLog(t, logPath, stage1...)
	s1 := d.waitFor(t, "the daemon to read the stage 1 lines", func(s samples) bool {
		return s["recidivist_lines_total"] >= base["recidivist_lines_total"]+float64(len(stage1))
	})
	t.Logf("before any line:\n%s\nafter stage 1:\n%s", base, s1)
	checkDeltas(t, "stage 1", base, s1, []want{
		{"recidivist_lines_total", float64(len(stage1))},
		{`recidivist_bans_total{jail="sshd"}`, 1},
		{`recidivist_bans_total{jail="postfix"}`, 1},
		{`recidivist_bans_total{jail="nginx"}`, 2},
		{`recidivist_bans_total{jail="recidive"}`, 0}, // excluded, never counted
		{`recidivist_lines_skipped_total{reason="bad-address"}`, 1},
		{`recidivist_lines_skipped_total{reason="bad-jail"}`, 1},
		{`recidivist_lines_skipped_total{reason="nul-byte"}`, 1},
		{`recidivist_lines_skipped_total{reason="invalid-utf8"}`, 1},
		{`recidivist_lines_skipped_total{reason="too-long"}`, 0},
		{"recidivist_tracked_addresses", 2},
		{"recidivist_offenders_blocked_total", 0},
		{"recidivist_block_latency_seconds_count", 0},
		{"recidivist_mirror_entries", 0},
		{"recidivist_reconcile_repairs_total", 0},
		{`recidivist_repairs_total{cause="rule-missing"}`, 0},
		{"recidivist_kernel_errors_total", 0},
	})
	// A float64 of seconds since 1970 holds microseconds: compare to those.
	if got, want := s1["recidivist_last_ban_timestamp_seconds"], float64(t0.Add(-time.Second).UnixMilli())/1e3; math.Abs(got-want) > 1e-6 {
		t.Errorf("stage 1: last ban timestamp %.6f, want %.6f (the newest countable Ban line's own time)", got, want)
	}

	// Stage 2: the third ban of each address makes both offenders.
	t1 := time.Now()
	appendLog(t, logPath, f2bLine(t1, "sshd", "198.51.100.23"), f2bLine(t1, "sshd", "2001:db8::99"))
	s2 := d.waitFor(t, "both offenders in the sets and the mirror", func(s samples) bool {
		return s["recidivist_offenders_blocked_total"] == base["recidivist_offenders_blocked_total"]+2 &&
			s[set4] == 1 && s[set6] == 1 && s["recidivist_mirror_entries"] == 2
	})
	waited := time.Since(t1)
	t.Logf("after stage 2 (blocked within %v of the third ban):\n%s", waited, s2)
	checkDeltas(t, "stage 2", s1, s2, []want{
		{"recidivist_lines_total", 2},
		{`recidivist_bans_total{jail="sshd"}`, 2},
		{`recidivist_bans_total{jail="nginx"}`, 0},
		{"recidivist_tracked_addresses", -2}, // offenders are blocked, no longer tracked
		{"recidivist_offenders_blocked_total", 2},
		{"recidivist_block_latency_seconds_count", 2},
		{set4, 1},
		{set6, 1},
		{"recidivist_mirror_entries", 2},
		{"recidivist_reconcile_repairs_total", 0}, // the kernel had them before the mirror changed
		{"recidivist_kernel_errors_total", 0},
	})
	// Each latency runs from the line's own (millisecond) time to the
	// address being in the set, which happened before the scrape saw it.
	if sum := s2["recidivist_block_latency_seconds_sum"]; sum < 0 || sum > 2*(waited+time.Millisecond).Seconds() {
		t.Errorf("stage 2: latency sum %gs for 2 offenders blocked within %v of their last ban", sum, waited)
	}

	// Stage 3: someone flushes INPUT; the repair puts the rule back.
	// (Run from this thread, iptables works in the test's namespace.)
	if out, err := exec.Command("iptables", "-w", "-F", "INPUT").CombinedOutput(); err != nil {
		t.Fatalf("iptables -F INPUT: %v: %s", err, out)
	}
	s3 := d.waitFor(t, "a reconcile to repair the flushed rule", func(s samples) bool {
		return s["recidivist_reconcile_repairs_total"] > s2["recidivist_reconcile_repairs_total"]
	})
	t.Logf("after stage 3:\n%s", s3)
	checkDeltas(t, "stage 3", s2, s3, []want{
		{"recidivist_reconcile_repairs_total", 1},
		{`recidivist_repairs_total{cause="rule-missing"}`, 1},
		{`recidivist_repairs_total{cause="set-flushed"}`, 0},
		{"recidivist_offenders_blocked_total", 0},
		{set4, 0},
		{set6, 0},
		{"recidivist_mirror_entries", 0},
		{"recidivist_kernel_errors_total", 0},
	})
	if out, err := exec.Command("iptables", "-w", "-C", "INPUT", "-m", "set", "--match-set", "rcdvmetrics", "src",
		"-m", "comment", "--comment", "recidivist", "-j", "DROP").CombinedOutput(); err != nil {
		t.Errorf("after the repair the match rule is not back in INPUT: %v: %s", err, out)
	}
}

// TestMetrics_are_off_unless_metrics_listen_is_set runs the daemon without
// metrics-listen: once it holds its lock (after the point where it would
// have started serving) it listens on nothing.
func TestMetrics_are_off_unless_metrics_listen_is_set(t *testing.T) {
	netnstest.Enter(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "fail2ban.log")
	write(t, logPath, f2bLine(time.Now(), "sshd", "192.0.2.10"))
	d := startDaemon(t, filepath.Join(dir, "state"), "--log", logPath, "--set-name", "rcdvnometrics")
	if got := listeners(t, d.cmd.Process.Pid); len(got) != 0 {
		t.Errorf("without metrics-listen the daemon listens on %v", got)
	}
	if strings.Contains(d.output.String(), "serving metrics") {
		t.Errorf("without metrics-listen the daemon says it serves metrics:\n%s", d.output)
	}
}
