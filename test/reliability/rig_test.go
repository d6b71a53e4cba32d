package reliability

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// rig is the built binary run against one log, one state directory and one
// pair of sets inside a network namespace of its own.
type rig struct {
	t                *testing.T
	ns               *namespace
	bin              string
	dir              string
	conf, log, state string
	set              string
	logArg           string   // how `run` is told the log's path (default: log)
	decide           []string // flags that change decisions: given to run and scan alike
	runFlags         []string // more flags for run
	wrap             []string // what runs a command inside the namespace(s)
	stateView        string   // where the test reads the state dir (another mount namespace's view of it)
	d                *proc
	markers          map[netip.Prefix]bool
	nextMarker       int
}

// newRig makes the namespace, an empty config file, an empty log and the
// state directory's parent, and builds the binary. decide are flags such
// as --threshold that run and scan share.
func newRig(t *testing.T, tag string, decide ...string) *rig {
	t.Helper()
	ns := newNamespace(t, tag)
	dir := t.TempDir()
	r := &rig{
		t: t, ns: ns, bin: binary(t), dir: dir,
		conf:    filepath.Join(dir, "recidivist.toml"),
		log:     filepath.Join(dir, "fail2ban.log"),
		state:   filepath.Join(dir, "state"),
		set:     "rl" + tag,
		decide:  decide,
		wrap:    []string{"ip", "netns", "exec", ns.name},
		markers: map[netip.Prefix]bool{},
	}
	r.logArg, r.stateView = r.log, r.state
	// An empty file of our own, so that no /etc/recidivist/recidivist.toml
	// on the host changes the settings under test.
	if err := os.WriteFile(r.conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) mirrorPath() string { return filepath.Join(r.state, "blocklist") }

// common are the flags every command gets: the same config, state and sets.
func (r *rig) common() []string {
	return []string{"--config", r.conf, "--state-dir", r.state, "--set-name", r.set}
}

// start starts `recidivist run` inside the namespace.
func (r *rig) start(extra ...string) {
	r.t.Helper()
	argv := slices.Concat(r.wrap, []string{r.bin, "run"}, r.common(),
		[]string{"--log", r.logArg, "--log-level", "info"}, r.decide, r.runFlags, extra)
	r.d = start(r.t, argv...)
}

// stop sends SIGTERM and fails t unless the daemon exits 0 within 10s.
func (r *rig) stop() {
	r.t.Helper()
	if err := r.d.term(); err != nil {
		r.t.Fatalf("daemon after SIGTERM: %v\n%s", err, r.d.tail(30))
	}
}

// stopAtAnyPoint is stop for a daemon that may have been started a moment
// ago: a SIGTERM that arrives before the process has installed its handler
// (on a loaded machine, while the Go runtime is still starting) ends it by
// the signal's default action, which for its state is the same as a crash
// at that point. Any other way of ending fails t. It reports whether the
// daemon stopped cleanly.
func (r *rig) stopAtAnyPoint() bool {
	r.t.Helper()
	err := r.d.term()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return false
		}
	}
	if err != nil {
		r.t.Fatalf("daemon after SIGTERM: %v\n%s", err, r.d.tail(30))
	}
	return true
}

// command runs one recidivist command inside the namespace.
func (r *rig) command(name string, args ...string) result {
	r.t.Helper()
	return run(r.t, slices.Concat(r.wrap, []string{r.bin, name}, r.common(), args)...)
}

// mustCommand is command, failing t on a non-zero exit.
func (r *rig) mustCommand(name string, args ...string) result {
	r.t.Helper()
	res := r.command(name, args...)
	if res.code != 0 {
		r.t.Fatalf("recidivist %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// alive fails t when the daemon has exited.
func (r *rig) alive() {
	r.t.Helper()
	if r.d.exited() {
		r.t.Fatalf("the daemon exited (%v):\n%s", r.d.err, r.d.tail(40))
	}
}

// ready waits until the daemon's sets and rules exist.
func (r *rig) ready() {
	r.t.Helper()
	if _, err := waitFor(30*time.Second, func() (bool, error) {
		if r.d.exited() {
			return false, fmt.Errorf("%w: the daemon exited (%v)", errGiveUp, r.d.err)
		}
		return r.ns.rulesInPlace(r.set)
	}); err != nil {
		r.t.Fatalf("daemon not ready within 30s: %v\n%s", err, r.d.tail(40))
	}
}

// sync appends three bans of a fresh marker address (198.51.100.0/24,
// never used otherwise) and waits until the kernel and the mirror hold it:
// the daemon has then dealt with every line written before. It fails t
// when that does not happen within 60s.
func (r *rig) sync() {
	r.t.Helper()
	if err := r.trySync(); err != nil {
		r.t.Fatal(err)
	}
}

// trySync is sync returning its failure.
func (r *rig) trySync() error {
	r.t.Helper()
	r.nextMarker++
	m := netip.AddrFrom4([4]byte{198, 51, 100, byte(r.nextMarker)})
	p := netip.PrefixFrom(m, 32)
	r.markers[p] = true
	now := time.Now()
	appendLines(r.t, r.log, e2etest.BanLine(now, "sshd", m), e2etest.BanLine(now, "postfix-sasl", m), e2etest.BanLine(now, "nginx-http-auth", m))
	if _, err := waitFor(60*time.Second, func() (bool, error) {
		if r.d.exited() {
			return false, fmt.Errorf("%w: the daemon exited (%v)", errGiveUp, r.d.err)
		}
		k, err := r.ns.setMembers(r.set)
		if err != nil || !k[p] {
			return false, err
		}
		mirror, _, err := r.mirror()
		_, ok := mirror[p]
		return ok, err
	}); err != nil {
		return fmt.Errorf("marker %s not in set %s and the mirror within 60s: %w\n%s", m, r.set, err, r.d.tail(40))
	}
	return nil
}

// mirror reads the mirror file: its entries with their comments, and the
// lines that are not an entry, a comment or blank (a half-written file
// shows there). A missing file is an empty mirror.
func (r *rig) mirror() (entries map[netip.Prefix]string, bad []string, err error) {
	return readMirror(filepath.Join(r.stateView, "blocklist"))
}

func readMirror(path string) (map[netip.Prefix]string, []string, error) {
	entries := map[netip.Prefix]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return entries, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening the mirror: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only
	var bad []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, comment, _ := strings.Cut(line, "#")
		entry = strings.TrimSpace(entry)
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			a, aerr := netip.ParseAddr(entry)
			if aerr != nil {
				bad = append(bad, fmt.Sprintf("%s:%d: %q", path, n, line))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		entries[p] = strings.TrimSpace(comment)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading the mirror: %w", err)
	}
	return entries, bad, nil
}

// commentField returns the value of key=value in a mirror comment.
func commentField(comment, key string) string {
	for _, f := range strings.Fields(comment) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// verdict compares the kernel and the mirror with what must be blocked.
type verdict struct {
	want, kernel, mirror  int
	missed, wrong, double int
	problems              []string // the first few, each naming the address
}

func (v *verdict) problem(format string, a ...any) {
	if len(v.problems) < 15 {
		v.problems = append(v.problems, fmt.Sprintf(format, a...))
	}
}

func (v verdict) ok() bool { return v.missed == 0 && v.wrong == 0 && v.double == 0 }

func (v verdict) String() string {
	s := fmt.Sprintf("%d wanted, kernel %d, mirror %d: %d missed, %d wrong, %d double", v.want, v.kernel, v.mirror, v.missed, v.wrong, v.double)
	if len(v.problems) > 0 {
		s += "\n\t" + strings.Join(v.problems, "\n\t")
	}
	return s
}

// judge compares the kernel sets and the mirror with want (entry → the
// jails its mirror comment must name, "" for any). An entry of want
// missing from either is missed; an entry in either not in want (markers
// aside) is wrong; a mirror entry naming other jails than want says is
// double (a line counted twice made it an offender early).
func (r *rig) judge(want map[netip.Prefix]string) verdict {
	r.t.Helper()
	kernel, err := r.ns.kernel(r.set)
	if err != nil {
		r.t.Fatal(err)
	}
	mirror, bad, err := r.mirror()
	if err != nil {
		r.t.Fatal(err)
	}
	v := verdict{want: len(want), kernel: len(kernel), mirror: len(mirror)}
	for _, b := range bad {
		v.wrong++
		v.problem("half-written or bad mirror line %s", b)
	}
	for _, p := range sortedKeys(want) {
		jails := want[p]
		comment, inMirror := mirror[p]
		switch {
		case !kernel[p] && !inMirror:
			v.missed++
			v.problem("%s: missing from the kernel set and the mirror, want blocked", p)
		case !kernel[p]:
			v.missed++
			v.problem("%s: in the mirror (%q) but missing from the kernel set", p, comment)
		case !inMirror:
			v.missed++
			v.problem("%s: in the kernel set but missing from the mirror", p)
		case jails != "" && commentField(comment, "jails") != jails:
			v.double++
			v.problem("%s: mirror says %q, want jails=%s (a line counted twice)", p, comment, jails)
		}
	}
	for _, p := range sortedKeys(kernel) {
		if _, ok := want[p]; !ok && !r.markers[p] {
			v.wrong++
			v.problem("%s: in the kernel set (mirror: %q), want it absent", p, mirror[p])
		}
	}
	for _, p := range sortedKeys(mirror) {
		if _, ok := want[p]; !ok && !r.markers[p] && !kernel[p] {
			v.wrong++
			v.problem("%s: in the mirror (%q) but not the kernel, want it absent", p, mirror[p])
		}
	}
	return v
}

// converge waits up to within for the kernel and the mirror to equal want
// and returns the last verdict and how long it took. A wrong or double
// entry never heals (the daemon does not take back a block on its own): once
// there is one and the figures have not changed for 5s, it stops waiting.
func (r *rig) converge(want map[netip.Prefix]string, within time.Duration) (verdict, time.Duration) {
	r.t.Helper()
	var (
		v      verdict
		last   string
		stable time.Time
	)
	took, _ := waitFor(within, func() (bool, error) {
		v = r.judge(want)
		figures := fmt.Sprint(v.kernel, v.mirror, v.missed, v.wrong, v.double)
		if figures != last {
			last, stable = figures, time.Now()
		}
		if v.wrong+v.double > 0 && time.Since(stable) > 5*time.Second {
			return false, errGiveUp
		}
		return v.ok(), nil
	})
	return v, took
}

// scan runs `recidivist scan --json` over files (oldest first) with the
// rig's decision flags and returns the offenders it names.
func (r *rig) scan(files ...string) map[netip.Prefix]bool {
	r.t.Helper()
	argv := slices.Concat([]string{r.bin, "scan", "--config", r.conf, "--json", "--log-level", "warn"}, r.decide, files)
	res := run(r.t, argv...)
	if res.code != 0 {
		r.t.Fatalf("recidivist scan: exit %d\n%s", res.code, res.stderr)
	}
	var out []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		r.t.Fatalf("reading scan --json: %v\n%s", err, res.stdout)
	}
	got := make(map[netip.Prefix]bool, len(out))
	for _, o := range out {
		a, err := netip.ParseAddr(o.Address)
		if err != nil {
			r.t.Fatalf("scan --json: %v", err)
		}
		got[netip.PrefixFrom(a, a.BitLen())] = true
	}
	return got
}

// scanAgrees compares scan's offenders (markers aside) with want and
// returns how many scan named and the differences, each naming the address.
func (r *rig) scanAgrees(want map[netip.Prefix]string, files ...string) (int, []string) {
	r.t.Helper()
	got := r.scan(files...)
	var diff []string
	n := 0
	for _, p := range sortedKeys(got) {
		if r.markers[p] {
			continue
		}
		n++
		if _, ok := want[p]; !ok {
			diff = append(diff, fmt.Sprintf("scan names %s, the generator says it is no offender", p))
		}
	}
	for _, p := range sortedKeys(want) {
		if !got[p] {
			diff = append(diff, fmt.Sprintf("scan misses %s, the generator says it is an offender", p))
		}
	}
	return n, diff
}

func sortedKeys[V any](m map[netip.Prefix]V) []netip.Prefix {
	ks := make([]netip.Prefix, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return ks
}

// first returns at most n of diffs, for a message.
func first(diffs []string, n int) string {
	if len(diffs) > n {
		return strings.Join(diffs[:n], "\n\t") + fmt.Sprintf("\n\t… and %d more", len(diffs)-n)
	}
	return strings.Join(diffs, "\n\t")
}

// commas formats n with thousands separators, as the summaries print it.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
