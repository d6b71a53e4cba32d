package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

// hookCalls is a notify-exec hook that records the stdin of each call.
type hookCalls struct {
	t   *testing.T
	dir string
}

func recordNotifications(h *harness) *hookCalls {
	dir := h.t.TempDir()
	hook := filepath.Join(h.t.TempDir(), "hook")
	script := fmt.Sprintf("#!/bin/sh\nn=$(ls %[1]s | wc -l)\ncat > %[1]s/.tmp-$n && mv %[1]s/.tmp-$n %[1]s/call-$n\n", dir)
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		h.t.Fatal(err)
	}
	h.notify = &notify.Config{Exec: []string{hook}, GroupWait: time.Second, GroupMax: 50, RetryFor: time.Minute}
	return &hookCalls{t: h.t, dir: dir}
}

// calls are the batches of events the hook got so far, in order.
func (c *hookCalls) calls() [][]notify.Event {
	c.t.Helper()
	var out [][]notify.Event
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("call-%d", i)))
		if os.IsNotExist(err) {
			return out
		}
		if err != nil {
			c.t.Fatal(err)
		}
		var evs []notify.Event
		if err := json.Unmarshal(b, &evs); err != nil {
			c.t.Fatalf("call %d: %v: %q", i, err, b)
		}
		out = append(out, evs)
	}
}

// quiet asserts that no call beyond the first n comes within a few
// group-waits.
func (c *hookCalls) quiet(n int, after string) {
	c.t.Helper()
	time.Sleep(3 * time.Second)
	if got := c.calls(); len(got) != n {
		c.t.Errorf("after %s: %d hook calls, want %d: %+v", after, len(got), n, got[n:])
	}
}

func kinds(evs []notify.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+"/"+e.Reason+" "+e.Prefix)
	}
	slices.Sort(out)
	return out
}

func TestDaemon_notifies_transitions_of_the_mirror_and_nothing_else(t *testing.T) {
	h := newHarness(t, nil)
	hook := recordNotifications(h)
	h.start()
	now := time.Now()
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		for range 3 {
			h.ban(now, "sshd", a)
		}
	}
	h.eventually("one batched call for the 3 offenders", func() bool { return len(hook.calls()) >= 1 })
	want := []string{"block/auto 192.0.2.1/32", "block/auto 192.0.2.2/32", "block/auto 192.0.2.3/32"}
	if got := hook.calls(); len(got) != 1 || !slices.Equal(kinds(got[0]), want) {
		t.Fatalf("hook calls = %v, want one call with %v", got, want)
	}

	h.eventually("the outbox to empty", func() bool { st, err := notify.ReadStatus(h.cfg.StateDir); return err == nil && st.Outbox == 0 })

	// Decided again while blocked, restart, restore, a reconcile after an
	// ipset flush: the mirror does not change, so nobody hears of it.
	h.ban(time.Now(), "sshd", "192.0.2.1")
	h.stop()
	h.start()
	if err := Restore(h.fake, h.mirror(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	h.fake.FlushSets()
	h.d.Reconcile()
	hook.quiet(1, "a re-decision, a restart, restore and a reconcile after ipset flush")

	// unban: one unblock event.
	if _, err := Unban(blocklist.Open(statedir.Mirror(h.cfg.StateDir)), h.fake, []netip.Prefix{prefix("192.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the unblock's call", func() bool { return len(hook.calls()) >= 2 })
	if got := hook.calls(); len(got) != 2 || !slices.Equal(kinds(got[1]), []string{"unblock/unban 192.0.2.2/32"}) {
		t.Fatalf("hook calls = %v, want a second call with one unblock of 192.0.2.2", got)
	}

	// ban: one manual block event.
	if _, err := Ban(blocklist.Open(statedir.Mirror(h.cfg.StateDir)), h.fake, []blocklist.Entry{{Prefix: prefix("198.51.100.9")}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.eventually("the manual block's call", func() bool { return len(hook.calls()) >= 3 })
	if got := hook.calls(); !slices.Equal(kinds(got[2]), []string{"block/manual 198.51.100.9/32"}) {
		t.Fatalf("third call = %v, want one manual block of 198.51.100.9", got[2])
	}
	hook.quiet(3, "the ban")
}

func TestDaemon_an_unban_while_stopped_is_notified_at_the_next_start(t *testing.T) {
	h := newHarness(t, nil)
	hook := recordNotifications(h)
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.44")}); err != nil {
		t.Fatal(err)
	}
	h.start() // first start: the mirror as it is is the baseline, nothing to tell
	h.stop()
	if _, err := Unban(blocklist.Open(statedir.Mirror(h.cfg.StateDir)), nil, []netip.Prefix{prefix("192.0.2.44")}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually("the unblock's call", func() bool { return len(hook.calls()) >= 1 })
	if got := hook.calls(); len(got) != 1 || !slices.Equal(kinds(got[0]), []string{"unblock/unban 192.0.2.44/32"}) {
		t.Fatalf("hook calls = %v, want one unblock of 192.0.2.44", got)
	}
}

func TestDaemon_an_expired_block_is_notified_as_an_expiry(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.BanTime = time.Hour })
	hook := recordNotifications(h)
	h.start()
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.99")
	}
	h.eventually("the block's call", func() bool { return len(hook.calls()) >= 1 })
	h.clock.advance(61 * time.Minute)
	h.d.Reconcile()
	h.eventually("the expiry's call", func() bool { return len(hook.calls()) >= 2 })
	if got := hook.calls(); len(got) != 2 || !slices.Equal(kinds(got[1]), []string{"unblock/expiry 192.0.2.99/32"}) {
		t.Fatalf("hook calls = %v, want a second call with one expiry of 192.0.2.99", got)
	}
}

func TestDaemon_blocks_decided_while_catching_up_go_out_as_one_summary(t *testing.T) {
	h := newHarness(t, nil)
	hook := recordNotifications(h)
	past := time.Now().Add(-time.Hour)
	for i := range 4 {
		for range 3 {
			h.ban(past, "sshd", fmt.Sprintf("203.0.113.%d", i+1))
		}
	}
	h.start()
	h.eventually("the summary's call", func() bool { return len(hook.calls()) >= 1 })
	got := hook.calls()
	if len(got) != 1 || len(got[0]) != 1 || got[0][0].Kind != notify.KindSummary || got[0][0].Count != 4 {
		t.Fatalf("hook calls = %+v, want one summary of 4 blocks", got)
	}
}

func TestDaemon_events_left_in_the_outbox_at_a_stop_are_delivered_after_the_restart(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	down, bodies := true, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			bodies = append(bodies, "")
			return
		}
		bodies = append(bodies, string(b))
	}))
	defer srv.Close()
	h.notify = &notify.Config{URL: srv.URL, Format: notify.FormatJSON, GroupWait: time.Second, GroupMax: 50, RetryFor: time.Hour}
	h.start()
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.77")
	}
	h.eventually("a failed delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) >= 1 })
	h.stop()
	if st, err := notify.ReadStatus(h.cfg.StateDir); err != nil || st.Outbox != 1 || st.LastError == "" {
		t.Fatalf("notifier status after the stop = %+v, %v; want 1 event in the outbox and the 503 as last error", st, err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	h.start()
	h.eventually("the delivery after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) > 0 && bodies[len(bodies)-1] != ""
	})
	mu.Lock()
	last := bodies[len(bodies)-1]
	mu.Unlock()
	var evs []notify.Event
	if err := json.Unmarshal([]byte(last), &evs); err != nil || !slices.Equal(kinds(evs), []string{"block/auto 192.0.2.77/32"}) {
		t.Fatalf("delivered %q (%v), want the one block of 192.0.2.77", last, err)
	}
	h.eventually("the outbox to empty", func() bool { st, err := notify.ReadStatus(h.cfg.StateDir); return err == nil && st.Outbox == 0 })
}

func TestDaemon_fleet_blocks_and_unbans_are_notified_as_fleet(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Fleet = config.Fleet{Redis: "unix:///nowhere", Name: "t", Host: "a", AcceptBlock: true, AcceptUnban: true}
	})
	hook := recordNotifications(h)
	h.start()
	now := h.clock.now()
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{fleetRecord("203.0.113.8/32", fleet.Block, now.Add(-time.Minute), "b")}, false); err != nil {
		t.Fatal(err)
	}
	h.eventually("the fleet block's call", func() bool { return len(hook.calls()) >= 1 })
	if got := hook.calls(); !slices.Equal(kinds(got[0]), []string{"block/fleet 203.0.113.8/32"}) {
		t.Fatalf("first call = %v, want one fleet block of 203.0.113.8", got[0])
	}
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{fleetRecord("203.0.113.8/32", fleet.Unban, now, "c")}, false); err != nil {
		t.Fatal(err)
	}
	h.eventually("the fleet unban's call", func() bool { return len(hook.calls()) >= 2 })
	if got := hook.calls(); len(got) != 2 || !slices.Equal(kinds(got[1]), []string{"unblock/fleet 203.0.113.8/32"}) {
		t.Fatalf("hook calls = %v, want a second call with one fleet unblock of 203.0.113.8", got)
	}
	h.d.Reconcile() // the seen set notices the entry gone: told already
	hook.quiet(2, "the reconcile after the fleet unban")
}
