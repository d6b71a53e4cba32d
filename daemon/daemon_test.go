package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/internal/testenv"
	"github.com/recidivist/recidivist/internal/tick"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

// harness is a daemon on a temp log and state dir with a fake kernel.
type harness struct {
	t       *testing.T
	cfg     *config.Config
	log     string
	fake    *ipsettest.Fake
	logs    *testenv.Buffer
	clock   *clock
	ticks   *tick.Manual // the reconcile-interval ticker: it ticks only when a test says so
	cancel  context.CancelFunc
	done    chan error
	d       *Daemon
	store   ipsetstore.Store  // the kernel the daemon is given; nil: fake
	explain func(error) error // Options.Explain
	// notify, when set, gives each start a fresh notifier of it, as each
	// `recidivist run` makes one.
	notify *notify.Config
	// local, when set, is the daemon's Options.LocalAddrs.
	local func() []netip.Addr
	// watch is Options.Watch (nil: none).
	watch func(context.Context, func(nfwatch.Commit)) error
	// firewalld is Options.Firewalld (nil: none).
	firewalld func(context.Context, func()) error
	// stopWriter stops the fleet writer runWriter started.
	stopWriter func()
	// step, when set, is the daemon's failpoint between the recorder's
	// writes (Daemon.step).
	step func(string)
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults() // what a command gets with no flag, variable or file
	cfg.Logs = []string{filepath.Join(dir, "fail2ban.log")}
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Location = time.UTC
	cfg.ReconcileInterval = time.Hour // reconciles in these tests come from file changes or Reconcile()
	if mutate != nil {
		mutate(cfg)
	}
	if err := os.WriteFile(cfg.Logs[0], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fake, err := ipsettest.New(ipsetstore.Config{SetName: cfg.SetName, Chains: cfg.Chains, Target: cfg.Target, MaxElem: cfg.MaxElem})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg, log: cfg.Logs[0], fake: fake, logs: &testenv.Buffer{}, clock: &clock{}, ticks: &tick.Manual{}}
	fake.Now = h.clock.now
	return h
}

func (h *harness) start() {
	h.t.Helper()
	var store ipsetstore.Store = h.fake
	if h.store != nil {
		store = h.store
	}
	var notifier *notify.Notifier
	if h.notify != nil {
		c := *h.notify
		c.StateDir = h.cfg.StateDir
		c.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
		var err error
		if notifier, err = notify.New(c); err != nil {
			h.t.Fatal(err)
		}
	}
	d, err := New(h.cfg, Options{Store: store, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: h.clock.now, NewTicker: h.ticks.New, Explain: h.explain, Notifier: notifier, LocalAddrs: h.local, Watch: h.watch, Firewalld: h.firewalld})
	if err != nil {
		h.t.Fatal(err)
	}
	h.d = d
	d.step = h.step
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	// Ready once the mirror watch is in place: a reconcile has run when the
	// sets exist (start() ensures them before the loops begin).
	h.eventually("daemon started", func() bool {
		st, err := h.fake.Status()
		return h.cfg.DryRun || err == nil && st.Healthy()
	})
	// The reconcile loop makes its ticker once its watch of the state dir
	// is in place.
	if err := h.ticks.WaitFor(h.cfg.ReconcileInterval, 30*time.Second); err != nil {
		h.t.Fatalf("the reconcile loop did not start: %v\n%s", err, h.logs.String())
	}
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("daemon did not stop within 10s of cancel")
	}
	h.cancel = nil
}

// banLine is a Ban line as fail2ban 1.0.2 writes it, with its newline.
func banLine(at time.Time, jail, addr string) string {
	return fmt.Sprintf("%s fail2ban.actions        [9091]: NOTICE  [%s] Ban %s\n", at.UTC().Format("2006-01-02 15:04:05,000"), jail, addr)
}

func (h *harness) ban(at time.Time, jail, addr string) {
	h.t.Helper()
	f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(banLine(at, jail, addr)); err != nil {
		h.t.Fatal(err)
	}
}

// eventually fails the test unless cond comes true within 30 s: the
// daemon's goroutines may be slow to be scheduled on a loaded CI machine,
// and a condition that does come true ends the wait at once.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	if !withinFor(30*time.Second, cond) {
		h.t.Fatalf("timed out waiting for: %s\ndaemon log:\n%s", what, h.logs.String())
	}
}

// within waits up to 5 s for cond and reports whether it came true; for
// waits that must not fail the test on the spot (while holding d.mu, say).
func within(cond func() bool) bool { return withinFor(5*time.Second, cond) }

// withinFor waits up to d for cond and reports whether it came true.
func withinFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func (h *harness) inSet(addr string) bool {
	h.t.Helper()
	p := prefix(addr)
	es, err := h.fake.List()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range es {
		if e.Prefix == p {
			return true
		}
	}
	return false
}

func (h *harness) mirror() []blocklist.Entry {
	h.t.Helper()
	es, _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Load()
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func (h *harness) inMirror(addr string) bool {
	for _, e := range h.mirror() {
		if e.Prefix == prefix(addr) {
			return true
		}
	}
	return false
}

// settle gives the daemon time to act on what it was given, for checks that
// something did NOT happen; positive checks use eventually.
func (h *harness) settle() { time.Sleep(300 * time.Millisecond) }

func prefix(s string) netip.Prefix {
	p, err := blocklist.ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestDaemon_offender_is_in_the_set_and_the_mirror_after_the_deciding_ban_and_not_before(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	now := time.Now()
	h.ban(now.Add(-3*time.Hour), "sshd", "192.0.2.10")
	h.ban(now.Add(-2*time.Hour), "postfix-sasl", "192.0.2.10")
	h.ban(now.Add(-time.Hour), "sshd", "2001:db8::bad:1")
	h.settle()
	if h.inSet("192.0.2.10") || h.inMirror("192.0.2.10") {
		t.Fatal("blocked after two bans; threshold is 3")
	}
	h.ban(now.Add(-time.Minute), "nginx-http-auth", "192.0.2.10")
	h.eventually("192.0.2.10 in the set and the mirror", func() bool { return h.inSet("192.0.2.10") && h.inMirror("192.0.2.10") })
	var got blocklist.Entry
	for _, e := range h.mirror() {
		if e.Prefix == prefix("192.0.2.10") {
			got = e
		}
	}
	if got.Bans != 3 || strings.Join(got.Jails, ",") != "nginx-http-auth,postfix-sasl,sshd" || got.Added.IsZero() {
		t.Errorf("mirror entry = %+v, want bans=3 jails=nginx-http-auth,postfix-sasl,sshd and a time", got)
	}
	if h.inSet("2001:db8::bad:1") {
		t.Error("an address with one ban was blocked")
	}
}

func TestDaemon_hand_edits_of_the_mirror_reach_the_kernel_at_once(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	path := statedir.Mirror(h.cfg.StateDir)
	// An editor's rename-write: a new file moved over the mirror.
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte("198.51.100.7 # added by hand\n2001:db8:1::/48\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	h.eventually("hand-added lines in the sets", func() bool { return h.inSet("198.51.100.7") && h.inSet("2001:db8:1::/48") })
	if err := os.WriteFile(path, []byte("2001:db8:1::/48\nnot-an-address\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.eventually("deleted line out of the set", func() bool { return !h.inSet("198.51.100.7") })
	if !h.inSet("2001:db8:1::/48") {
		t.Error("a good line was dropped because another line is bad")
	}
	if !strings.Contains(h.logs.String(), "not-an-address") {
		t.Errorf("the bad line was not reported; log:\n%s", h.logs.String())
	}
}

func TestDaemon_unban_forgives_the_bans_logged_before_it(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	base := time.Now().Add(-time.Hour)
	for i := range 3 {
		h.ban(base.Add(time.Duration(i)*time.Minute), "sshd", "203.0.113.7")
	}
	h.eventually("blocked", func() bool { return h.inSet("203.0.113.7") && h.inMirror("203.0.113.7") })
	// Two more bans while blocked (fail2ban banned it by hand, say).
	h.ban(base.Add(10*time.Minute), "sshd", "203.0.113.7")
	h.ban(base.Add(11*time.Minute), "sshd", "203.0.113.7")
	h.settle()
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Remove(prefix("203.0.113.7")); err != nil {
		t.Fatal(err)
	}
	h.eventually("out of the set after unban", func() bool { return !h.inSet("203.0.113.7") })
	// One ban after the unban: with the two forgiven ones it would make 3.
	h.ban(time.Now(), "sshd", "203.0.113.7")
	h.settle()
	if h.inSet("203.0.113.7") || h.inMirror("203.0.113.7") {
		t.Fatal("re-blocked by bans logged before the unban")
	}
	h.ban(time.Now(), "sshd", "203.0.113.7")
	h.ban(time.Now(), "sshd", "203.0.113.7")
	h.eventually("blocked again by three new bans", func() bool { return h.inSet("203.0.113.7") })
}

func TestDaemon_a_line_deleted_while_stopped_is_forgiven_at_the_next_start(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	base := time.Now().Add(-2 * time.Hour)
	for i := range 3 {
		h.ban(base.Add(time.Duration(i)*time.Minute), "sshd", "198.51.100.23")
	}
	h.eventually("blocked", func() bool { return h.inSet("198.51.100.23") && h.inMirror("198.51.100.23") })
	h.stop()
	// While it is stopped: three more bans are logged, then the admin deletes the line.
	for i := range 3 {
		h.ban(base.Add(time.Duration(30+i)*time.Minute), "sshd", "198.51.100.23")
	}
	if err := os.WriteFile(statedir.Mirror(h.cfg.StateDir), []byte("# emptied by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.settle()
	if h.inSet("198.51.100.23") || h.inMirror("198.51.100.23") {
		t.Fatalf("bans logged before the hand deletion blocked it again; log:\n%s", h.logs.String())
	}
	for range 3 {
		h.ban(time.Now(), "sshd", "198.51.100.23")
	}
	h.eventually("blocked again by three new bans", func() bool { return h.inSet("198.51.100.23") })
}

func TestDaemon_reconcile_heals_flushed_sets_and_lost_rules(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.44")}, blocklist.Entry{Prefix: prefix("2001:db8::44")}); err != nil {
		t.Fatal(err)
	}
	h.start()
	if !h.inSet("192.0.2.44") || !h.inSet("2001:db8::44") {
		t.Fatal("the mirror was not restored at start")
	}
	for _, breakIt := range []struct {
		name string
		do   func()
	}{
		{"ipset flush", h.fake.FlushSets},
		{"ipset destroy", h.fake.DestroySets},
		{"iptables -F", h.fake.FlushRules},
	} {
		breakIt.do()
		h.d.Reconcile()
		st, err := h.fake.Status()
		if err != nil || !st.Healthy() || !h.inSet("192.0.2.44") || !h.inSet("2001:db8::44") {
			t.Errorf("after %s and a reconcile: healthy=%v entries back=%v err=%v", breakIt.name, st.Healthy(), h.inSet("192.0.2.44"), err)
		}
	}
	if !strings.Contains(h.logs.String(), "reconciled the kernel with the mirror") {
		t.Errorf("repairs were not logged:\n%s", h.logs.String())
	}
}

func TestDaemon_a_second_daemon_on_the_same_state_dir_is_refused_naming_the_pid(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	d2, err := New(h.cfg, Options{Store: h.fake, Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = d2.Run(context.Background())
	if !errors.Is(err, statedir.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", os.Getpid())) {
		t.Fatalf("second Run = %v, want statedir.ErrLocked naming PID %d", err, os.Getpid())
	}
}

func TestDaemon_dry_run_changes_nothing_and_logs_the_decision(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.DryRun = true })
	h.start()
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.77")
	}
	h.eventually("the decision logged", func() bool { return strings.Contains(h.logs.String(), "would block offender") })
	if h.inSet("192.0.2.77") || h.inMirror("192.0.2.77") {
		t.Error("dry run changed the kernel or the mirror")
	}
	if st, _ := h.fake.Status(); len(st.Sets) > 0 && st.Sets[0].Exists {
		t.Error("dry run created sets")
	}
}

func TestDaemon_dry_run_logs_each_kernel_change_a_reconcile_would_make_once(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.DryRun = true })
	h.start()
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.45")}); err != nil {
		t.Fatal(err)
	}
	const would = "would add to the set\" prefix=192.0.2.45/32"
	h.eventually("the kernel change logged", func() bool { return strings.Contains(h.logs.String(), would) })
	h.d.Reconcile()
	h.d.Reconcile()
	if n := strings.Count(h.logs.String(), would); n != 1 {
		t.Errorf("the dry run logged the add %d times over three reconciles, want once:\n%s", n, h.logs)
	}
	if h.inSet("192.0.2.45") {
		t.Error("dry run changed the kernel")
	}
	if st, _ := h.fake.Status(); len(st.Sets) > 0 && st.Sets[0].Exists {
		t.Error("dry run created sets")
	}
}

func TestDaemon_a_full_set_is_loud_and_the_mirror_still_records_the_offender(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.SetMaxElem(1)
	h.explain = func(err error) error {
		if errors.Is(err, ipsetstore.ErrSetFull) {
			return fmt.Errorf("%w — the fix, from the top", err)
		}
		return err
	}
	h.start()
	for _, a := range []string{"192.0.2.1", "192.0.2.2"} {
		for range 3 {
			h.ban(time.Now(), "sshd", a)
		}
	}
	h.eventually("the second offender in the mirror", func() bool { return h.inMirror("192.0.2.2") })
	h.eventually("the full set logged", func() bool { return strings.Contains(h.logs.String(), "not in the kernel set") })
	if !strings.Contains(h.logs.String(), "the fix, from the top") {
		t.Errorf("the full set's log line does not carry the fix Options.Explain gives:\n%s", h.logs)
	}
	if !h.inSet("192.0.2.1") {
		t.Error("what was already blocked is no longer blocked")
	}
	if !errors.Is(h.fake.Add(ipsetstore.Entry{Prefix: prefix("192.0.2.3")}), ipsetstore.ErrSetFull) {
		t.Error("the fake does not report a full set; the test proves nothing")
	}
}

func TestDaemon_ban_time_carries_into_the_kernel_and_expired_lines_leave_the_mirror(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.BanTime = time.Hour })
	h.start()
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.99")
	}
	h.eventually("blocked", func() bool { return h.inSet("192.0.2.99") && h.inMirror("192.0.2.99") })
	es, _ := h.fake.List()
	if len(es) != 1 || es[0].Timeout < 59*time.Minute || es[0].Timeout > time.Hour {
		t.Fatalf("kernel entries %+v, want one with about 1h left", es)
	}
	if m := h.mirror(); len(m) != 1 || m[0].Expires.Sub(m[0].Added) != time.Hour {
		t.Fatalf("mirror %+v, want expires = added + 1h", m)
	}
	h.clock.advance(61 * time.Minute)
	h.d.Reconcile()
	if h.inMirror("192.0.2.99") || h.inSet("192.0.2.99") {
		t.Error("an expired block is still in the mirror or the set")
	}
}

// progressFake is a fake kernel that counts the entries Replace reports to
// the progress its caller passed.
type progressFake struct {
	*ipsettest.Fake
	heard int
}

func (p *progressFake) Replace(es []ipsetstore.Entry, progress func(int)) error {
	if progress == nil {
		return errors.New("Replace was given no progress")
	}
	return p.Fake.Replace(es, func(n int) { p.heard += n; progress(n) })
}

func TestRestore_passes_Replace_a_progress_that_hears_every_entry(t *testing.T) {
	fake, err := ipsettest.New(ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	p := &progressFake{Fake: fake}
	entries := []blocklist.Entry{{Prefix: prefix("192.0.2.1")}, {Prefix: prefix("2001:db8::1")}}
	if err := Restore(p, entries, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if p.heard != len(entries) {
		t.Errorf("Replace's progress heard %d entries, want %d", p.heard, len(entries))
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestDaemon_latency_counts_ban_lines_logged_while_it_runs_not_the_catch_up(t *testing.T) {
	h := newHarness(t, nil)
	old := time.Now().Add(-2 * time.Hour)
	for i, jail := range []string{"sshd", "postfix", "sshd"} {
		h.ban(old.Add(time.Duration(i)*time.Minute), jail, "192.0.2.20") // logged before the daemon started
	}
	h.start()
	h.eventually("the caught-up offender is blocked", func() bool { return h.inSet("192.0.2.20") })
	if n := histogramCount(t, h.d.metrics.latency); n != 0 {
		t.Errorf("latency observed %d times for an offender of old lines, want 0", n)
	}
	for _, jail := range []string{"sshd", "postfix", "sshd"} {
		h.ban(time.Now(), jail, "192.0.2.21")
	}
	h.eventually("the live offender is blocked", func() bool { return h.inSet("192.0.2.21") })
	if n := histogramCount(t, h.d.metrics.latency); n != 1 {
		t.Errorf("latency observed %d times, want 1 for the live offender", n)
	}
}

// addWatcher is the fake kernel, calling onAdd before each Add.
type addWatcher struct {
	*ipsettest.Fake
	onAdd func(ipsetstore.Entry)
}

func (a *addWatcher) Add(es ...ipsetstore.Entry) error {
	for _, e := range es {
		a.onAdd(e)
	}
	return a.Fake.Add(es...)
}

func TestDaemon_an_offender_reaches_the_kernel_before_the_mirror_write(t *testing.T) {
	h := newHarness(t, nil)
	var inMirror atomic.Int32 // 1: the mirror had it when the kernel got it; 2: it did not
	h.store = &addWatcher{Fake: h.fake, onAdd: func(e ipsetstore.Entry) {
		if e.Prefix == prefix("192.0.2.20") && inMirror.Load() == 0 {
			if h.inMirror("192.0.2.20") {
				inMirror.Store(1)
			} else {
				inMirror.Store(2)
			}
		}
	}}
	h.start()
	now := time.Now()
	for range 3 {
		h.ban(now, "sshd", "192.0.2.20")
	}
	h.eventually("192.0.2.20 in the set and the mirror", func() bool { return h.inSet("192.0.2.20") && h.inMirror("192.0.2.20") })
	if inMirror.Load() != 2 {
		t.Errorf("the mirror recorded the offender before the kernel blocked it (a new block waited for fsyncs)")
	}
}

func TestDaemon_a_reconcile_keeps_an_offender_the_mirror_could_not_record_yet(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	// A mirror whose temp file cannot be created (name too long): reading
	// it works (a missing file is empty), every write fails.
	broken := blocklist.Open(filepath.Join(h.cfg.StateDir, strings.Repeat("m", 245)))
	h.d.mu.Lock()
	real := h.d.mirror
	h.d.mirror = broken
	h.d.mu.Unlock()
	now := time.Now()
	for range 3 {
		h.ban(now, "sshd", "2001:db8::20")
	}
	h.eventually("the failed mirror write logged", func() bool {
		return strings.Contains(h.logs.String(), "recording 1 offenders in the mirror")
	})
	h.d.Reconcile()
	if !h.inSet("2001:db8::20") {
		t.Fatal("a reconcile took out an offender only because its mirror write failed")
	}
	h.d.mu.Lock()
	h.d.mirror = real
	h.d.mu.Unlock()
	h.eventually("2001:db8::20 in the mirror after the retry", func() bool { return h.inMirror("2001:db8::20") })
	// The mark goes just after the write that the file shows.
	h.eventually("no offender kept as unrecorded once the mirror recorded them", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		return len(h.d.unrecorded) == 0
	})
	h.d.Reconcile()
	if !h.inSet("2001:db8::20") {
		t.Error("the offender left the set once the mirror recorded it")
	}
}

func TestDaemon_two_offences_of_one_address_read_together_block_and_count_it_once(t *testing.T) {
	h := newHarness(t, nil)
	// Six bans in one write: the watcher reports the address twice (a
	// second offence once the first was reported), in one batch.
	var sb strings.Builder
	at := time.Now().Add(-time.Hour)
	for i := range 6 {
		sb.WriteString(banLine(at.Add(time.Duration(i)*time.Second), "sshd", "192.0.2.30"))
	}
	if err := os.WriteFile(h.log, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually("192.0.2.30 in the mirror", func() bool { return h.inMirror("192.0.2.30") })
	h.settle()
	if n := strings.Count(h.logs.String(), `msg="blocked offender"`); n != 1 {
		t.Errorf("%d \"blocked offender\" log lines for one address, want 1:\n%s", n, h.logs.String())
	}
	if n := counterValue(t, h.d.metrics.blocked); n != 1 {
		t.Errorf("offenders blocked metric = %v, want 1", n)
	}
	if n := len(h.mirror()); n != 1 {
		t.Errorf("mirror holds %d entries, want 1", n)
	}
}

func TestDaemon_an_offender_the_policy_refuses_after_it_reached_the_kernel_leaves_it(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.d.mu.Lock() // the mirror write waits, as behind a slow fsync
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.40")
	}
	within(func() bool { return h.inSet("192.0.2.40") })
	// A reload lands in between that puts the address on the ignore list.
	h.d.policy = blocklist.Policy{Ignore: []netip.Prefix{prefix("192.0.2.0/24")}}
	h.d.mu.Unlock()
	h.eventually("the refusal logged", func() bool { return strings.Contains(h.logs.String(), "offender not blocked") })
	h.d.Reconcile()
	if h.inSet("192.0.2.40") || h.inMirror("192.0.2.40") {
		t.Errorf("an ignored address stayed blocked: in the set %v, in the mirror %v", h.inSet("192.0.2.40"), h.inMirror("192.0.2.40"))
	}
}

func TestDaemon_its_own_mirror_writes_do_not_set_off_a_reconcile_but_a_hand_edit_does(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.50")}); err != nil {
		t.Fatal(err)
	}
	h.start()
	if !h.inSet("192.0.2.50") {
		t.Fatal("the mirror was not restored at start")
	}
	// Drift that only a reconcile repairs: it shows whether one ran.
	h.fake.FlushSets()
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.51")
	}
	h.eventually("192.0.2.51 in the mirror", func() bool { return h.inMirror("192.0.2.51") })
	h.settle()
	if h.inSet("192.0.2.50") {
		t.Fatal("the daemon's own mirror write set off a reconcile (a million-entry one costs seconds of CPU)")
	}
	if !h.inSet("192.0.2.51") {
		t.Fatal("the new offender is not in the set")
	}
	// A hand edit (appending) does.
	f, err := os.OpenFile(statedir.Mirror(h.cfg.StateDir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("198.51.100.50 # by hand\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.eventually("the hand edit reconciled: the drift healed and the new line in force", func() bool {
		return h.inSet("192.0.2.50") && h.inSet("198.51.100.50")
	})
}

// listCounter is the fake kernel, counting full listings of the sets.
type listCounter struct {
	*ipsettest.Fake
	lists atomic.Int32
}

func (l *listCounter) List() ([]ipsetstore.Entry, error) {
	l.lists.Add(1)
	return l.Fake.List()
}

func TestDaemon_interval_reconciles_list_every_entry_only_when_something_changed(t *testing.T) {
	const interval = 20 * time.Millisecond
	h := newHarness(t, func(c *config.Config) { c.ReconcileInterval = interval })
	for _, a := range []string{"192.0.2.60", "192.0.2.61", "2001:db8::60"} {
		if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix(a)}); err != nil {
			t.Fatal(err)
		}
	}
	lc := &listCounter{Fake: h.fake}
	d, err := New(h.cfg, Options{Store: lc, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: h.clock.now, NewTicker: h.ticks.New})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	h.eventually("the mirror in force", func() bool { return h.inSet("192.0.2.60") })

	// ticks delivers n intervals and returns once the loop has acted on
	// all but the last (it takes a tick only when done with the one before).
	ticks := func(n int) {
		t.Helper()
		for range n {
			if err := h.ticks.Tick(interval, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Quiet: 50 intervals; only every tenth compares every entry.
	ticks(50)
	if n := lc.lists.Load(); n > 8 {
		t.Errorf("%d full listings in 50 quiet intervals, want about 5", n)
	}
	if n := lc.lists.Load(); n == 0 {
		t.Error("no full listing at all in 50 intervals, want one every tenth")
	}
	// New offenders are counted in, not a reason for full listings.
	before := lc.lists.Load()
	for range 3 {
		h.ban(time.Now(), "sshd", "198.51.100.60")
	}
	h.eventually("the offender in the mirror", func() bool { return h.inMirror("198.51.100.60") })
	ticks(30)
	if n := lc.lists.Load() - before; n > 6 {
		t.Errorf("%d full listings in 30 intervals after an offender, want about 3", n)
	}
	// healedWithin ticks until cond holds, failing after most intervals
	// (and the one that shows the last was acted on).
	healedWithin := func(what string, most int, cond func() bool) {
		t.Helper()
		for range most + 2 {
			if cond() {
				return
			}
			ticks(1)
		}
		t.Fatalf("not within %d intervals: %s\n%s", most, what, h.logs.String())
	}
	// What the headers and rules show is healed at the next interval.
	h.fake.FlushSets()
	healedWithin("flushed sets refilled", 1, func() bool { return h.inSet("192.0.2.60") && h.inSet("198.51.100.60") })
	h.fake.FlushRules()
	healedWithin("rules restored", 1, func() bool {
		st, err := h.fake.Status()
		return err == nil && st.Healthy()
	})
	// An entry swapped for another keeps the counts: the next full
	// comparison (within ten intervals) heals it.
	if err := h.fake.Del(prefix("192.0.2.61")); err != nil {
		t.Fatal(err)
	}
	if err := h.fake.Add(ipsetstore.Entry{Prefix: prefix("203.0.113.99")}); err != nil {
		t.Fatal(err)
	}
	healedWithin("the swap undone", fullEvery, func() bool { return h.inSet("192.0.2.61") && !h.inSet("203.0.113.99") })
}

func TestDaemon_offenders_reach_the_kernel_while_the_mirror_is_locked_and_the_mirror_after(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	// Hold the mirror's writer lock, as a slow mirror write, an unban or a
	// reconcile under the lock does.
	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Exclusive(func(*blocklist.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	now := time.Now()
	for _, a := range []string{"192.0.2.20", "192.0.2.21"} {
		for range 3 {
			h.ban(now, "sshd", a)
		}
		ok := within(func() bool { return h.inSet(a) })
		if !ok || h.inMirror(a) {
			close(release)
			t.Fatalf("while the mirror is locked: %s in the set %v, in the mirror %v; want the set at once", a, ok, h.inMirror(a))
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.eventually("both in the mirror once the lock is free", func() bool { return h.inMirror("192.0.2.20") && h.inMirror("192.0.2.21") })
	h.d.Reconcile()
	if !h.inSet("192.0.2.20") || !h.inSet("192.0.2.21") {
		t.Error("a reconcile took out recorded offenders")
	}
}

func TestDaemon_a_reconcile_heals_the_rules_when_there_is_no_mirror_file_yet(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	if _, err := os.Stat(statedir.Mirror(h.cfg.StateDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("mirror file exists before any block (%v); the test needs none", err)
	}
	h.fake.FlushRules()
	h.d.Reconcile()
	if st, err := h.fake.Status(); err != nil || !st.Healthy() {
		t.Errorf("rules after a reconcile with no mirror file: %+v, %v; want them back\n%s", st, err, h.logs.String())
	}
}
