package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

func banOf(at time.Time, addr string) watcher.Ban {
	return watcher.Ban{Time: at, Jail: "sshd", Addr: netip.MustParseAddr(addr)}
}

// runWriter runs the daemon's fleet writer against f until the test ends.
func (h *harness) runWriter(f fleet.Fleet) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := h.d
	go func() { done <- d.RunFleetWriter(ctx, f) }()
	stop := func() {
		if cancel == nil {
			return
		}
		cancel()
		cancel = nil
		if err := <-done; err != nil {
			h.t.Errorf("RunFleetWriter: %v", err)
		}
	}
	h.t.Cleanup(stop)
	h.stopWriter = stop
}

// outboxLines returns the lines of the fleet outbox file.
func (h *harness) outboxLines() []string {
	h.t.Helper()
	b, err := os.ReadFile(statedir.FleetOutbox(h.cfg.StateDir))
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// record returns the fleet's record of prefix p (ok false: none).
func record(mem *fleet.Memory, p string) (fleet.Record, bool) {
	for _, r := range mem.Records() {
		if r.Prefix == prefix(p) {
			return r, true
		}
	}
	return fleet.Record{}, false
}

func TestFleetLink_a_restart_that_reads_lines_again_never_shares_a_ban_twice(t *testing.T) {
	h := fleetHarness(t, nil) // threshold 3 (the default)
	mem := fleet.NewMemory()
	// the watcher state of a daemon that read nothing yet: restoring it
	// later is a crash before any checkpoint covered the lines below
	h.stop()
	saved := map[string][]byte{}
	for _, name := range []string{statedir.WatcherStateFile, statedir.WatcherJournalFile} {
		if b, err := os.ReadFile(filepath.Join(h.cfg.StateDir, name)); err == nil {
			saved[name] = b
		}
	}
	h.start()
	h.runWriter(mem.Host("a"))
	now := h.clock.now()
	h.ban(now.Add(-2*time.Minute), "sshd", "203.0.113.30")
	h.ban(now.Add(-time.Minute), "postfix", "203.0.113.30")
	h.eventually("both bans pushed", func() bool {
		st, ok := h.d.FleetWriterStatus()
		last, _ := h.d.outbox.Last()
		return ok && last > 0 && st.Pushed == last && st.Backlog == 0
	})
	h.stopWriter()
	h.stop()
	for _, name := range []string{statedir.WatcherStateFile, statedir.WatcherJournalFile} {
		os.Remove(filepath.Join(h.cfg.StateDir, name))
		if b, ok := saved[name]; ok {
			if err := os.WriteFile(filepath.Join(h.cfg.StateDir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.start()
	h.eventually("the lines read again", func() bool { return h.d.watcher.Stats().Bans >= 2 })
	h.stop() // its final save makes the outbox durable
	h.start()
	h.runWriter(mem.Host("a"))
	h.eventually("the outbox pushed", func() bool {
		st, ok := h.d.FleetWriterStatus()
		last, _ := h.d.outbox.Last()
		return ok && st.Pushed == last && st.Backlog == 0
	})
	if n := countPrefix(h.outboxLines(), "E_"); n != 2 {
		t.Fatalf("the outbox holds %d bans after the replay, want 2:\n%s", n, strings.Join(h.outboxLines(), "\n"))
	}
	if r, ok := record(mem, "203.0.113.30"); ok {
		t.Fatalf("two bans read twice made a fleet offender: %+v", r)
	}
	// a third, new ban is counted: the fleet decides
	h.ban(now.Add(-30*time.Second), "sshd", "203.0.113.30")
	h.eventually("the third ban makes a fleet block", func() bool { _, ok := record(mem, "203.0.113.30"); return ok })
	t.Logf("outbox after replay + one ban: %d bans, fleet record %+v", countPrefix(h.outboxLines(), "E_"), mem.Records())
}

func TestFleetLink_an_offender_is_shared_at_its_deciding_bans_time(t *testing.T) {
	h := fleetHarness(t, func(c *config.Config) { c.BanTime = time.Hour })
	mem := fleet.NewMemory()
	h.runWriter(mem.Host("a"))
	now := h.clock.now().Truncate(time.Millisecond)
	for i, at := range []time.Duration{-3 * time.Minute, -2 * time.Minute, -time.Minute} {
		h.ban(now.Add(at), []string{"sshd", "postfix", "sshd"}[i], "203.0.113.31")
	}
	h.eventually("the offender in the set and the mirror", func() bool { return h.inSet("203.0.113.31") && h.inMirror("203.0.113.31") })
	h.eventually("its block in the fleet", func() bool { _, ok := record(mem, "203.0.113.31"); return ok })
	if l, ok := h.d.FleetLink(); !ok || l.Writer == nil || l.Writer.Pushed == 0 {
		t.Fatalf("the running writer is not in the fleet link status: %+v, %v", l, ok)
	}
	r, _ := record(mem, "203.0.113.31")
	if !r.Version.Equal(now.Add(-time.Minute)) || r.State != fleet.Block {
		t.Fatalf("fleet record %+v, want a block at the deciding ban's time %v", r, now.Add(-time.Minute))
	}
	var local blocklist.Entry
	for _, e := range h.mirror() {
		if e.Prefix == prefix("203.0.113.31") {
			local = e
		}
	}
	if !r.Expires.Truncate(time.Second).Equal(local.Expires) {
		t.Fatalf("fleet expiry %v, local expires= %v: every host must expire it at once", r.Expires, local.Expires)
	}
	h.eventually("the 3 bans and the one block record in the outbox", func() bool {
		lines := h.outboxLines()
		return countPrefix(lines, "E_") == 3 && countPrefix(lines, "R_") == 1
	})
}

func TestFleetLink_ban_unban_and_hand_edits_are_shared_and_fleet_records_never_echo(t *testing.T) {
	h := fleetHarness(t, nil)
	mem := fleet.NewMemory()
	h.runWriter(mem.Host("a"))
	m := blocklist.Open(statedir.Mirror(h.cfg.StateDir))
	now := h.clock.now()

	// other hosts' records: applied, never pushed back
	other := mem.Host("b")
	if _, err := other.PutRecord(context.Background(), fleetRecord("203.0.113.40/32", fleet.Block, now.Add(-time.Minute), "b"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.d.ApplyFleet(context.Background(), mem.Records(), false); err != nil {
		t.Fatal(err)
	}
	unban := fleetRecord("203.0.113.40/32", fleet.Unban, now.Add(-time.Second), "b")
	if _, err := other.PutRecord(context.Background(), unban, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{unban}, false); err != nil {
		t.Fatal(err)
	}
	h.d.Reconcile()

	// `ban` and `unban`
	if _, err := Ban(m, nil, []blocklist.Entry{{Prefix: prefix("203.0.113.41"), Added: now, Manual: true}}, now); err != nil {
		t.Fatal(err)
	}
	h.eventually("the ban in the fleet", func() bool {
		r, ok := record(mem, "203.0.113.41")
		return ok && r.State == fleet.Block && r.Host == "a"
	})
	if _, err := Unban(m, nil, []netip.Prefix{prefix("203.0.113.41")}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the unban in the fleet", func() bool {
		r, ok := record(mem, "203.0.113.41")
		return ok && r.State == fleet.Unban && r.Host == "a"
	})

	// a line added and deleted by hand
	f, err := os.OpenFile(statedir.Mirror(h.cfg.StateDir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("198.51.100.42\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.eventually("the hand-added line in the fleet", func() bool { r, ok := record(mem, "198.51.100.42"); return ok && r.State == fleet.Block })
	b, err := os.ReadFile(statedir.Mirror(h.cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "198.51.100.42") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(statedir.Mirror(h.cfg.StateDir), []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	h.eventually("the hand deletion in the fleet", func() bool { r, ok := record(mem, "198.51.100.42"); return ok && r.State == fleet.Unban })

	// a restart notices nothing to share again
	h.stopWriter()
	h.stop()
	h.start()
	h.settle()
	var hosts []string
	for _, l := range h.outboxLines() {
		if strings.HasPrefix(l, "R_") {
			hosts = append(hosts, l)
		}
	}
	if len(hosts) != 4 || slices.ContainsFunc(hosts, func(l string) bool { return strings.Contains(l, "203.0.113.40") }) {
		t.Fatalf("outbox records %q, want exactly the ban, unban, hand add and hand delete of this host, none of the fleet's", hosts)
	}
	if r, _ := record(mem, "203.0.113.40"); r.Host != "b" {
		t.Fatalf("the fleet's unban of 203.0.113.40 came back from a: %+v", r)
	}
}

func TestFleetLink_the_outbox_keeps_a_window_of_acknowledged_history(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet-outbox")
	o, err := openOutbox(path, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, _ := o.Last() // a new outbox numbers from the clock
	for i := range 2 * compactAt {
		at := now.Add(-2 * time.Hour) // outside the window
		if i >= compactAt {
			at = now
		}
		o.ban(banOf(at, "203.0.113.50"))
	}
	if err := o.sync(); err != nil {
		t.Fatal(err)
	}
	if err := o.compact(first+compactAt/2, now); err != nil {
		t.Fatal(err)
	}
	if items, _ := o.After(0, 1<<20); len(items) != 2*compactAt {
		t.Fatalf("compacted to %d items although only %d old ones were acknowledged", len(items), compactAt/2)
	}
	if err := o.compact(first+2*compactAt, now); err != nil {
		t.Fatal(err)
	}
	items, _ := o.After(0, 1<<20)
	if len(items) != compactAt || items[0].Seq != first+compactAt+1 {
		t.Fatalf("after compaction: %d items from seq %d, want the %d in the window", len(items), items[0].Seq, compactAt)
	}
	again, err := openOutbox(path, time.Hour, first+2*compactAt)
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := again.Last(); last != first+2*compactAt {
		t.Fatalf("reopened outbox ends at %d, want %d", last, first+2*compactAt)
	}
	// a torn last line (a crash while appending) is dropped
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("E 99999 17")
	f.Close()
	if _, err := openOutbox(path, time.Hour, 0); err != nil {
		t.Fatalf("a torn last line: %v", err)
	}
}

func TestFleetLink_an_unreadable_outbox_is_moved_aside_and_blocking_goes_on(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Fleet = config.Fleet{Redis: "unix:///nowhere", Name: "t", Host: "a", AcceptBlock: true, AcceptUnban: true}
	})
	if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := statedir.FleetOutbox(h.cfg.StateDir)
	if err := os.WriteFile(path, []byte("E 1 1796196226455 203.0.113.31 sshd\ngarbage\nE 2 1796196226455 203.0.113.31 sshd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	now := h.clock.now()
	for _, at := range []time.Duration{-3 * time.Second, -2 * time.Second, -time.Second} {
		h.ban(now.Add(at), "sshd", "203.0.113.60")
	}
	h.eventually("the offender blocked", func() bool { return h.inSet("203.0.113.60") })
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("the unreadable outbox was not moved aside: %v\n%s", err, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "fleet: the outbox is unreadable") {
		t.Fatalf("no error logged for the unreadable outbox:\n%s", h.logs.String())
	}
}

func TestFleetLink_a_new_outbox_after_a_lost_one_never_reuses_an_acknowledged_seq(t *testing.T) {
	h := fleetHarness(t, nil)
	mem := fleet.NewMemory()
	h.runWriter(mem.Host("a"))
	now := h.clock.now()
	h.ban(now.Add(-3*time.Minute), "sshd", "203.0.113.70")
	h.ban(now.Add(-2*time.Minute), "sshd", "203.0.113.71")
	h.eventually("both bans pushed", func() bool {
		st, ok := h.d.FleetWriterStatus()
		last, _ := h.d.outbox.Last()
		return ok && last > 0 && st.Pushed == last
	})
	h.stopWriter()
	h.stop()
	if err := os.Remove(statedir.FleetOutbox(h.cfg.StateDir)); err != nil { // lost; fleet-pushed stays
		t.Fatal(err)
	}
	h.start()
	h.runWriter(mem.Host("a"))
	// two bans on b, one new on a: a fleet offender only if a's is pushed
	b := mem.Host("b")
	for i, at := range []time.Duration{-50 * time.Second, -40 * time.Second} {
		if _, err := b.PushEvent(context.Background(), fleet.Event{Addr: netip.MustParseAddr("203.0.113.72"), Time: now.Add(at), Jail: "sshd", Seq: uint64(i + 1)}, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	h.ban(now.Add(-30*time.Second), "postfix", "203.0.113.72")
	h.eventually("a's new ban makes the fleet block", func() bool { _, ok := record(mem, "203.0.113.72"); return ok })
}

func TestFleetLink_this_hosts_own_records_coming_back_are_skipped_but_fleet_decisions_applied(t *testing.T) {
	h := fleetHarness(t, nil) // host a
	now := h.clock.now()
	own := fleetRecord("203.0.113.80/32", fleet.Block, now.Add(-time.Minute), "a")
	own.Origin = "manual" // a `ban` on a, unbanned on a since
	decided := fleetRecord("203.0.113.81/32", fleet.Block, now.Add(-time.Minute), "a")
	decided.Origin = "fleet" // the fleet's decision, a's ban the third
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{own, decided}, false); err != nil {
		t.Fatal(err)
	}
	if h.inMirror("203.0.113.80") || h.inSet("203.0.113.80") {
		t.Fatalf("this host's own block came back from the fleet")
	}
	if !h.inMirror("203.0.113.81") || !h.inSet("203.0.113.81") {
		t.Fatalf("the fleet's decision triggered by this host's ban was not applied")
	}
}
