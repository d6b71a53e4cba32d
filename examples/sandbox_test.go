package examples_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/internal/testenv"
)

// The units' sandbox cannot be tried without systemd as PID 1, so these
// tests trace recidivist (and the iptables it runs, with either backend)
// doing its work in a fresh network namespace, and check that every system
// call, socket family and file write it made is one the unit lets through,
// holding only the capabilities the unit grants.

// needTracing skips the test unless it can trace in a network namespace.
func needTracing(t *testing.T) (analyze, strace string) {
	t.Helper()
	analyze = systemdAnalyze(t)
	netnstest.RequireRoot(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		testenv.SkipOrFail(t, "strace is not installed (apt-get install strace)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		testenv.SkipOrFail(t, "unshare is not installed (apt-get install util-linux)")
	}
	return analyze, strace
}

// expand lists the system calls of a systemd syscall group (or a single
// call), following nested groups.
func expand(t *testing.T, analyze, name string, into map[string]bool, seen map[string]bool) {
	t.Helper()
	if !strings.HasPrefix(name, "@") {
		into[name] = true
		return
	}
	if seen[name] {
		return
	}
	seen[name] = true
	out, err := exec.Command(analyze, "syscall-filter", "--no-pager", name).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, " ") {
			continue // the group's own name
		}
		if f := strings.TrimSpace(line); f != "" && !strings.HasPrefix(f, "#") {
			expand(t, analyze, f, into, seen)
		}
	}
}

// allowedSyscalls is what the unit's SystemCallFilter= lines let through: the
// first line is an allow list, later ones add to it or, with "~", take away.
func allowedSyscalls(t *testing.T, analyze, unitPath string) map[string]bool {
	t.Helper()
	filters := readUnit(t, unitPath)["Service"]["SystemCallFilter"]
	if len(filters) == 0 || strings.HasPrefix(filters[0], "~") {
		t.Fatalf("%s has no SystemCallFilter= allow list", unitPath)
	}
	allowed := map[string]bool{}
	for _, line := range filters {
		deny := strings.HasPrefix(line, "~")
		set := map[string]bool{}
		for _, name := range strings.Fields(strings.TrimPrefix(line, "~")) {
			expand(t, analyze, name, set, map[string]bool{})
		}
		for name := range set {
			if deny {
				delete(allowed, name)
			} else {
				allowed[name] = true
			}
		}
	}
	return allowed
}

var (
	traceCallRE   = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)
	traceSocketRE = regexp.MustCompile(`^\d+\s+socket(?:pair)?\((AF_[A-Z0-9]+),`)
	// the calls that change a file system, with their path arguments
	traceOpenRE  = regexp.MustCompile(`^\d+\s+open(?:at)?\((?:AT_FDCWD, )?"([^"]*)", ([A-Z_|]+)`)
	traceWriteRE = regexp.MustCompile(`^\d+\s+(?:mkdir|mkdirat|rename|renameat|renameat2|unlink|unlinkat|rmdir|link|linkat|symlink|symlinkat|mknod|mknodat|truncate|utimensat|fchmodat|fchownat)\(`)
	traceStrRE   = regexp.MustCompile(`"(/[^"]*)"`)
)

// trace is what an `strace -f -s 4096 -o` file shows recidivist did.
type trace struct {
	calls    map[string]bool // system calls made
	families map[string]bool // address families of the sockets opened
	writes   map[string]bool // absolute paths created, written, renamed or removed
}

// readTrace reads an strace output file.
func readTrace(t *testing.T, path string) trace {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := trace{calls: map[string]bool{}, families: map[string]bool{}, writes: map[string]bool{}}
	for _, line := range strings.Split(string(b), "\n") {
		if m := traceCallRE.FindStringSubmatch(line); m != nil {
			tr.calls[m[1]] = true
		}
		if m := traceSocketRE.FindStringSubmatch(line); m != nil {
			tr.families[m[1]] = true
		}
		if m := traceOpenRE.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], "/") {
			if strings.Contains(m[2], "O_WRONLY") || strings.Contains(m[2], "O_RDWR") || strings.Contains(m[2], "O_CREAT") {
				tr.writes[m[1]] = true
			}
		}
		if traceWriteRE.MatchString(line) {
			for _, m := range traceStrRE.FindAllStringSubmatch(line, -1) {
				tr.writes[m[1]] = true
			}
		}
	}
	if !tr.calls["execve"] {
		t.Fatalf("the trace %s shows no execve; it is not a trace of recidivist", path)
	}
	return tr
}

// checkSandbox fails the test for every system call, socket family and file
// write that the unit's sandbox would refuse. stateDir stands for the unit's
// /var/lib/recidivist.
func checkSandbox(t *testing.T, analyze, unitPath, tracePath, stateDir string) {
	t.Helper()
	unit := readUnit(t, unitPath)["Service"]
	tr := readTrace(t, tracePath)

	allowed := allowedSyscalls(t, analyze, unitPath)
	var refused []string
	for call := range tr.calls {
		if !allowed[call] {
			refused = append(refused, call)
		}
	}
	slices.Sort(refused)
	if len(refused) > 0 {
		t.Errorf("SystemCallFilter= refuses system calls recidivist made: %s", strings.Join(refused, " "))
	}

	var families []string
	for _, v := range unit["RestrictAddressFamilies"] {
		families = append(families, strings.Fields(v)...)
	}
	for fam := range tr.families {
		if !slices.Contains(families, fam) {
			t.Errorf("RestrictAddressFamilies=%s refuses the %s socket recidivist opened", strings.Join(families, " "), fam)
		}
	}

	// ProtectSystem=strict: only these are writable.
	writable := []string{"/dev", "/tmp", "/var/tmp"} // PrivateDevices=, PrivateTmp=
	for _, v := range unit["ReadWritePaths"] {
		for _, p := range strings.Fields(v) {
			writable = append(writable, strings.TrimPrefix(p, "-"))
		}
	}
	for _, v := range unit["StateDirectory"] {
		for _, p := range strings.Fields(v) {
			writable = append(writable, "/var/lib/"+p)
		}
	}
	under := func(path string) func(string) bool {
		return func(dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }
	}
	var written []string
	for path := range tr.writes {
		installed := path
		if under(path)(stateDir) {
			installed = "/var/lib/recidivist" + strings.TrimPrefix(path, stateDir)
		} else if under(path)(filepath.Dir(stateDir)) {
			t.Errorf("recidivist wrote %s, a test file outside its state directory", path)
			continue
		}
		written = append(written, installed)
		if !slices.ContainsFunc(writable, under(installed)) {
			t.Errorf("ProtectSystem=strict makes %s read-only, but recidivist writes it (writable: %s)", installed, strings.Join(writable, " "))
		}
	}
	slices.Sort(written)
	t.Logf("%d distinct system calls; socket families %v; paths written, as installed: %v", len(tr.calls), slices.Sorted(maps.Keys(tr.families)), written)
}

// banLines writes n fail2ban Ban lines for addr, a minute apart and ending
// now, in fail2ban's own log format and local time.
func banLines(addr string, n int) string {
	var b strings.Builder
	now := time.Now()
	for i := n - 1; i >= 0; i-- {
		ts := now.Add(-time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05,000")
		fmt.Fprintf(&b, "%s fail2ban.actions        [9091]: NOTICE  [sshd] Ban %s\n", ts, addr)
	}
	return b.String()
}

// metricsAddr is where the traced daemon serves metrics, inside its own
// network namespace.
const metricsAddr = "127.0.0.1:9732"

// stateConfig writes a config file naming the log and state directory under
// dir and returns its path.
func stateConfig(t *testing.T, dir string) string {
	t.Helper()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "recidivist.toml")
	body := fmt.Sprintf("log = %q\nstate-dir = %q\nmetrics-listen = %q\n", filepath.Join(dir, "fail2ban.log"), state, metricsAddr)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// backends are the two iptables backends Debian ships; recidivist runs
// whichever `iptables` is first in PATH.
var backends = []string{"nft", "legacy"}

// withBackend returns the environment with PATH leading to the iptables and
// ip6tables of backend.
func withBackend(t *testing.T, backend string) []string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"iptables", "ip6tables"} {
		target, err := exec.LookPath(name + "-" + backend)
		if err != nil {
			testenv.SkipOrFail(t, name+"-"+backend+" is not installed (apt-get install iptables)")
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
}

// traced returns the command that runs bin with args under strace in a fresh
// network namespace, writing the trace to tracePath, with no capabilities but
// those the unit keeps (CapabilityBoundingSet=, AmbientCapabilities=) and
// its NoNewPrivileges=.
func traced(t *testing.T, unitPath, strace, tracePath, bin string, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.SkipOrFail(t, "setpriv is not installed (apt-get install util-linux)")
	}
	unit := readUnit(t, unitPath)["Service"]
	caps := func(key string) string {
		list := "-all"
		for _, v := range unit[key] {
			for _, c := range strings.Fields(v) {
				list += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
			}
		}
		return list
	}
	if !slices.Equal(unit["CapabilityBoundingSet"], unit["AmbientCapabilities"]) {
		t.Fatalf("%s: CapabilityBoundingSet= %q and AmbientCapabilities= %q differ; the iptables recidivist runs would lack some", unitPath, unit["CapabilityBoundingSet"], unit["AmbientCapabilities"])
	}
	cmd := []string{"-n", "setpriv",
		"--bounding-set=" + caps("CapabilityBoundingSet"),
		"--inh-caps=" + caps("AmbientCapabilities"),
		"--ambient-caps=" + caps("AmbientCapabilities")}
	if slices.Contains(unit["NoNewPrivileges"], "yes") {
		cmd = append(cmd, "--no-new-privs")
	}
	cmd = append(cmd, "--", strace, "-f", "-qq", "-s", "4096", "-o", tracePath, bin)
	return exec.Command("unshare", append(cmd, args...)...)
}

func TestRestoreUnitSandboxLetsRestoreWork(t *testing.T) {
	analyze, strace := needTracing(t)
	bin := buildBinary(t)
	for _, backend := range backends {
		t.Run("with_iptables_"+backend, func(t *testing.T) {
			dir := t.TempDir()
			conf := stateConfig(t, dir)
			mirror := filepath.Join(dir, "state", "blocklist")
			if err := os.WriteFile(mirror, []byte("192.0.2.7 # by hand\n2001:db8::7\n198.51.100.0/24\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			trace := filepath.Join(dir, "trace")
			cmd := traced(t, filepath.Join("systemd", "recidivist-restore.service"), strace, trace, bin, "restore", "--config", conf)
			cmd.Env = withBackend(t, backend)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("recidivist restore in a fresh network namespace: %v\n%s", err, out)
			}
			checkSandbox(t, analyze, filepath.Join("systemd", "recidivist-restore.service"), trace, filepath.Join(dir, "state"))
		})
	}
	t.Run("with_the_nftables_backend", func(t *testing.T) {
		dir := t.TempDir()
		conf := nftablesConfig(t, stateConfig(t, dir))
		mirror := filepath.Join(dir, "state", "blocklist")
		if err := os.WriteFile(mirror, []byte("192.0.2.7 # by hand\n2001:db8::7\n198.51.100.0/24\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		trace := filepath.Join(dir, "trace")
		cmd := traced(t, filepath.Join("systemd", "recidivist-restore.service"), strace, trace, bin, "restore", "--config", conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("recidivist restore (backend nftables) in a fresh network namespace: %v\n%s", err, out)
		}
		checkSandbox(t, analyze, filepath.Join("systemd", "recidivist-restore.service"), trace, filepath.Join(dir, "state"))
	})
}

// nftablesConfig adds backend = "nftables" to the config file conf.
func nftablesConfig(t *testing.T, conf string) string {
	t.Helper()
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("backend = \"nftables\"\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestDaemonUnitSandboxLetsTheDaemonWork(t *testing.T) {
	analyze, strace := needTracing(t)
	bin := buildBinary(t)
	for _, backend := range backends {
		t.Run("with_iptables_"+backend, func(t *testing.T) {
			dir := t.TempDir()
			trace := filepath.Join(dir, "trace")
			cmd := traced(t, filepath.Join("systemd", "recidivist.service"), strace, trace, bin, "run", "--config", stateConfig(t, dir))
			runDaemonTraced(t, cmd, withBackend(t, backend), dir)
			checkSandbox(t, analyze, filepath.Join("systemd", "recidivist.service"), trace, filepath.Join(dir, "state"))
		})
	}
	t.Run("with_the_nftables_backend", func(t *testing.T) {
		dir := t.TempDir()
		trace := filepath.Join(dir, "trace")
		cmd := traced(t, filepath.Join("systemd", "recidivist.service"), strace, trace, bin, "run", "--config", nftablesConfig(t, stateConfig(t, dir)))
		runDaemonTraced(t, cmd, os.Environ(), dir)
		checkSandbox(t, analyze, filepath.Join("systemd", "recidivist.service"), trace, filepath.Join(dir, "state"))
	})
}

// runDaemonTraced runs the daemon command cmd with env as systemd would run
// a Type=notify service, makes it block an offender from the log it backfills
// and one from a line it follows, and stops it with SIGTERM. dir holds its
// config, log and state directory.
func runDaemonTraced(t *testing.T, cmd *exec.Cmd, env []string, dir string) {
	t.Helper()
	logPath := filepath.Join(dir, "fail2ban.log")
	if err := os.WriteFile(logPath, []byte(banLines("192.0.2.10", 3)), 0o640); err != nil {
		t.Fatal(err)
	}
	notes := notifySocket(t)

	var output bytes.Buffer // written by os/exec's one copying goroutine; read after Wait
	cmd.Env = append(env, "NOTIFY_SOCKET="+notes.path)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error // set before exited is closed
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() string { // kills a daemon still running after a failure
		cmd.Process.Kill() //nolint:errcheck // it may have exited already, which is as good
		<-exited
		return output.String()
	}
	t.Cleanup(func() { stop() })

	if err := notes.wait("READY=1", exited); err != nil {
		t.Fatalf("%v\n%s", err, stop())
	}
	// Follow the log: three more bans make another offender.
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(banLines("198.51.100.20", 3)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(dir, "state", "blocklist")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(mirror) // not there yet is the same as not blocked yet
		if strings.Contains(string(b), "192.0.2.10 ") && strings.Contains(string(b), "198.51.100.20 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not block both offenders within 30s; mirror:\n%s\noutput:\n%s", b, stop())
		}
	}

	// unshare exec'd setpriv, which exec'd strace, whose one child is the daemon.
	daemonPID := childOf(t, cmd.Process.Pid)
	// The counter moves just after the mirror write the loop above saw, on
	// the daemon's goroutine: on a busy machine the first scrape can fall
	// in between, so scrape until it reads 2 or the deadline passes.
	blockedTwo := regexp.MustCompile(`(?m)^recidivist_offenders_blocked_total 2$`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		metrics, err := scrape(daemonPID)
		if err != nil {
			t.Fatalf("scraping the metrics: %v\n%s", err, stop())
		}
		if blockedTwo.MatchString(metrics) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics do not count the two offenders blocked within 30s:\n%s", metrics)
		}
	}

	if err := syscall.Kill(daemonPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := notes.wait("STOPPING=1", nil); err != nil {
		t.Fatalf("%v\n%s", err, stop())
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the daemon did not stop cleanly on SIGTERM: %v\n%s", waitErr, output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop within 30s of SIGTERM\n%s", stop())
	}
}

// notifications is a socket like systemd's NOTIFY_SOCKET.
type notifications struct {
	path  string
	notes chan string
}

// notifySocket listens on a fresh notify socket until the test ends.
func notifySocket(t *testing.T) *notifications {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifications{path: filepath.Join(dir, "notify"), notes: make(chan string, 16)}
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	go func() {
		defer close(n.notes)
		buf := make([]byte, 4096)
		for {
			k, _, err := sock.ReadFromUnix(buf)
			if err != nil {
				return // closed at the end of the test
			}
			n.notes <- string(buf[:k])
		}
	}()
	return n
}

// wait waits up to 30s for a notification carrying the assignment want, and
// gives up early when exited is closed.
func (n *notifications) wait(want string, exited <-chan struct{}) error {
	deadline := time.After(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the daemon exited before it sent %s", want)
		case note, ok := <-n.notes:
			if !ok {
				return fmt.Errorf("the notify socket closed before %s", want)
			}
			if slices.Contains(strings.Split(note, "\n"), want) {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no %s from the daemon within 30s", want)
		}
	}
}

// childOf returns the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b))
	if len(fields) != 1 {
		t.Fatalf("process %d has children %q, want one", pid, fields)
	}
	child, err := strconv.Atoi(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}

// scrape reads /metrics from the daemon pid inside its network namespace,
// bringing up the namespace's loopback first.
func scrape(pid int) (string, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return "", fmt.Errorf("opening the daemon's network namespace: %w", err)
	}
	defer ns.Close() //nolint:errcheck // a handle on /proc; nothing to recover
	var body string
	err = netnstest.InNamespace(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bringing up lo: %w", err)
		}
		// Dial on this thread (an http.Client would dial on another).
		conn, err := net.DialTimeout("tcp", metricsAddr, 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return err
		}
		if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(conn)
		if !bytes.HasPrefix(b, []byte("HTTP/1.0 200")) && !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
			return fmt.Errorf("GET /metrics: %q", b)
		}
		body = string(b)
		return err
	})
	return body, err
}
