package daemon

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/statedir"
)

// fakeWatch hands the daemon the commits a test sends, as nfwatch would.
type fakeWatch struct{ ch chan fakeCommit }

type fakeCommit struct {
	c    nfwatch.Commit
	done chan struct{}
}

func newFakeWatch() *fakeWatch { return &fakeWatch{ch: make(chan fakeCommit)} }

func (w *fakeWatch) Run(ctx context.Context, fn func(nfwatch.Commit)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case fc := <-w.ch:
			fn(fc.c)
			close(fc.done)
		}
	}
}

// send returns once the daemon has taken c in.
func (w *fakeWatch) send(t *testing.T, c nfwatch.Commit) {
	t.Helper()
	fc := fakeCommit{c: c, done: make(chan struct{})}
	select {
	case w.ch <- fc:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon does not follow the watch")
	}
	<-fc.done
}

// statusCounter counts the status reads a check makes.
type statusCounter struct {
	*ipsettest.Fake
	statuses atomic.Int64
}

func (s *statusCounter) Status() (ipsetstore.Status, error) {
	s.statuses.Add(1)
	return s.Fake.Status()
}

func causeCount(t *testing.T, d *Daemon, cause string) float64 {
	t.Helper()
	return counterValue(t, d.metrics.repairsBy.WithLabelValues(cause))
}

func (h *harness) healthy() bool {
	st, err := h.fake.Status()
	return err == nil && st.Healthy()
}

var iptablesFlushInput = nfwatch.Commit{Gen: 7, PID: 1, Comm: "iptables", Deleted: []nfwatch.Deletion{{Kind: nfwatch.Rule, Family: nfprotoIPv4, Table: "filter", Chain: "INPUT"}}}

func TestDaemon_repairs_a_rule_another_process_deleted_as_soon_as_the_watch_sees_it(t *testing.T) {
	w := newFakeWatch()
	h := newHarness(t, nil) // reconcile interval 1h, header ticks by hand: only the watch can repair
	h.watch = w.Run
	sc := &statusCounter{Fake: h.fake}
	h.store = sc
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.44")}); err != nil {
		t.Fatal(err)
	}
	h.start()

	// The daemon's own commits are its writes: they set nothing off.
	h.fake.FlushRules()
	own := iptablesFlushInput
	own.PID = uint32(os.Getpid())
	// So are those of `recidivist ban`/`unban`/`restore` beside it: they
	// change the mirror too, which the daemon follows.
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	sibling := iptablesFlushInput
	sibling.Comm = strings.TrimSpace(string(comm))
	before := sc.statuses.Load()
	w.send(t, own)
	w.send(t, sibling)
	h.settle()
	if h.healthy() || sc.statuses.Load() != before {
		t.Fatalf("a commit of the daemon's own or of a recidivist command set off a check (%d status reads) or a repair", sc.statuses.Load()-before)
	}

	w.send(t, iptablesFlushInput)
	h.eventually("the rule back after iptables -F INPUT", h.healthy)
	if n := causeCount(t, h.d, CauseRuleMissing); n != 1 {
		t.Errorf("recidivist_repairs_total{cause=rule-missing} = %v, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "cause=rule-missing") {
		t.Errorf("the repair's log names no cause:\n%s", h.logs.String())
	}

	// What the repair's own iptables run deletes (a stale rule) comes back
	// as another process's commit: it costs one check, no second repair.
	before = sc.statuses.Load()
	w.send(t, iptablesFlushInput)
	h.eventually("the check after the repair's own commit", func() bool { return sc.statuses.Load() > before })
	h.settle()
	if n := causeCount(t, h.d, CauseRuleMissing); n != 1 {
		t.Errorf("after a commit that left the kernel right: repairs{rule-missing} = %v, want still 1", n)
	}

	// Events lost: a check finds what changed meanwhile.
	h.fake.FlushSets()
	w.send(t, nfwatch.Commit{Lost: os.ErrDeadlineExceeded})
	h.eventually("the entries back after events were lost", func() bool { return h.inSet("192.0.2.44") })
	if n := causeCount(t, h.d, CauseSetFlushed); n != 1 {
		t.Errorf("repairs{set-flushed} = %v, want 1", n)
	}
}

func TestDaemon_the_header_check_heals_a_flush_no_event_announces(t *testing.T) {
	h := newHarness(t, nil) // reconcile interval 1h
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.45")}, blocklist.Entry{Prefix: prefix("2001:db8::45")}); err != nil {
		t.Fatal(err)
	}
	h.start()
	for _, c := range []struct {
		name, cause string
		do          func()
		healed      func() bool
	}{
		{"ipset flush", CauseSetFlushed, h.fake.FlushSets, func() bool { return h.inSet("192.0.2.45") && h.inSet("2001:db8::45") }},
		{"ipset destroy", CauseSetMissing, h.fake.DestroySets, func() bool { return h.healthy() && h.inSet("192.0.2.45") }},
		{"iptables-legacy -F", CauseRuleMissing, h.fake.FlushRules, h.healthy},
		{"a rule buried under another", CauseRuleMissing, func() { h.fake.BuryRule("INPUT", ipsetstore.IPv4) }, h.healthy},
	} {
		before := causeCount(t, h.d, c.cause)
		c.do()
		if err := h.ticks.Tick(headerEvery, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		h.eventually(c.name+" healed by one header check", c.healed)
		if n := causeCount(t, h.d, c.cause) - before; n != 1 {
			t.Errorf("%s: repairs{%s} rose by %v, want 1", c.name, c.cause, n)
		}
	}
	// A right kernel: the check changes and counts nothing.
	var total float64
	for _, c := range repairCauses {
		total += causeCount(t, h.d, c)
	}
	if err := h.ticks.Tick(headerEvery, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.ticks.Tick(headerEvery, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var after float64
	for _, c := range repairCauses {
		after += causeCount(t, h.d, c)
	}
	if after != total {
		t.Errorf("header checks of a right kernel counted %v repairs", after-total)
	}
}

// layoutFake is a store whose counts cost a full listing, as nftables':
// the header check must read the generation and the layout instead.
type layoutFake struct {
	statusCounter
	gen     atomic.Uint32
	layouts atomic.Int64
}

func (l *layoutFake) Generation() (uint32, error) { return l.gen.Load(), nil }

func (l *layoutFake) Layout() (ipsetstore.Status, error) {
	l.layouts.Add(1)
	st, err := l.Fake.Status()
	for i := range st.Sets {
		st.Sets[i].Entries = 0
	}
	return st, err
}

func TestDaemon_header_checks_on_nftables_read_the_generation_and_count_no_entry(t *testing.T) {
	h := newHarness(t, nil)
	lf := &layoutFake{statusCounter: statusCounter{Fake: h.fake}}
	h.store = lf
	h.start()
	tick := func() {
		t.Helper()
		if err := h.ticks.Tick(headerEvery, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		// The loop took this tick when it takes the next; a repair kicked
		// off by it may still run: wait on a condition where one matters.
	}
	statuses := lf.statuses.Load()
	for range 5 {
		tick()
	}
	tick() // the fifth has been acted on
	if n := lf.layouts.Load(); n != 1 {
		t.Errorf("%d layouts read in 6 checks of an unchanged generation, want 1", n)
	}
	if n := lf.statuses.Load() - statuses; n != 0 {
		t.Errorf("%d full status reads (a listing of every entry on nftables) in header checks, want 0", n)
	}
	h.fake.FlushRules()
	lf.gen.Add(1)
	tick()
	h.eventually("the rules back after the generation moved", h.healthy)
	if n := causeCount(t, h.d, CauseRuleMissing); n != 1 {
		t.Errorf("repairs{rule-missing} = %v, want 1", n)
	}
}

func TestCauseOf_names_what_a_commit_deleted_of_ours(t *testing.T) {
	del := func(k nfwatch.Kind, fam uint8, table, chainOrSet string) nfwatch.Deletion {
		d := nfwatch.Deletion{Kind: k, Family: fam, Table: table}
		if k == nfwatch.Set || k == nfwatch.Element {
			d.Set = chainOrSet
		} else {
			d.Chain = chainOrSet
		}
		return d
	}
	chains := []string{"INPUT", "DOCKER-USER"}
	cases := []struct {
		name, backend, comm string
		deleted             []nfwatch.Deletion
		cause               string
		content             bool
	}{
		{"iptables -F INPUT", "ipset", "iptables", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv4, "filter", "INPUT")}, CauseRuleMissing, false},
		{"ip6tables -F DOCKER-USER", "ipset", "ip6tables", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv6, "filter", "DOCKER-USER")}, CauseRuleMissing, false},
		{"a rule of a chain not configured", "ipset", "iptables", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv4, "filter", "OUTPUT")}, "", false},
		{"nft flush ruleset under ipset", "ipset", "nft", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv4, "filter", "INPUT"), del(nfwatch.Chain, nfprotoIPv4, "filter", "INPUT"), del(nfwatch.Table, nfprotoIPv4, "filter", "")}, CauseTableMissing, false},
		{"a firewalld reload", "ipset", "firewalld", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv4, "filter", "INPUT")}, CauseFirewalldReload, false},
		{"another table's rule", "ipset", "nft", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoInet, "firewalld", "filter_INPUT")}, "", false},
		{"nft flush ruleset", "nftables", "nft", []nfwatch.Deletion{del(nfwatch.Element, nfprotoInet, "recidivist", "v4"), del(nfwatch.Rule, nfprotoInet, "recidivist", "input"), del(nfwatch.Table, nfprotoInet, "recidivist", "")}, CauseTableMissing, true},
		{"our rule deleted", "nftables", "nft", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoInet, "recidivist", "input")}, CauseRuleMissing, false},
		{"nft flush set", "nftables", "nft", []nfwatch.Deletion{del(nfwatch.Element, nfprotoInet, "recidivist", "v6")}, CauseSetFlushed, true},
		{"iptables -F INPUT under nftables", "nftables", "iptables", []nfwatch.Deletion{del(nfwatch.Rule, nfprotoIPv4, "filter", "INPUT")}, "", false},
		{"a table of the same name in another family", "nftables", "nft", []nfwatch.Deletion{del(nfwatch.Table, nfprotoIPv4, "recidivist", "")}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cause, content := causeOf(nfwatch.Commit{PID: 1, Comm: c.comm, Deleted: c.deleted}, c.backend, "recidivist", chains)
			if cause != c.cause || content != c.content {
				t.Errorf("causeOf = %q, content %v; want %q, %v", cause, content, c.cause, c.content)
			}
		})
	}
}

func TestDaemon_interval_checks_on_nftables_with_the_watch_list_no_entry_until_the_tenth(t *testing.T) {
	h := newHarness(t, nil)
	lf := &layoutFake{statusCounter: statusCounter{Fake: h.fake}}
	h.store = lf
	h.watch = newFakeWatch().Run
	h.start()
	h.eventually("the watch running", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		return h.d.watching && h.d.full.valid
	})
	statuses := lf.statuses.Load()
	for range fullEvery - 1 { // the last of these is acted on by the next tick
		if err := h.ticks.Tick(h.cfg.ReconcileInterval, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := lf.statuses.Load() - statuses; n != 0 {
		t.Errorf("%d full status reads (a listing of every element on nftables) in %d quiet intervals, want 0", n, fullEvery-2)
	}
}

func TestDaemon_the_header_check_heals_a_flush_even_when_the_counts_are_not_known(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.46")}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.d.mu.Lock()
	h.d.full.valid = false // as after a reconcile that found fail2ban's jump above ours
	h.d.mu.Unlock()
	h.fake.FlushSets()
	if err := h.ticks.Tick(headerEvery, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	h.eventually("the flushed set refilled by one header check", func() bool { return h.inSet("192.0.2.46") })
	if n := causeCount(t, h.d, CauseSetFlushed); n != 1 {
		t.Errorf("repairs{set-flushed} = %v, want 1", n)
	}
}
