package reliability

import (
	"net/netip"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// testCatchUp stops the daemon at arbitrary points of a stream and across
// a window's edge: after each restart its decisions equal scan's and the
// generator's (item 5).
func testCatchUp(t *testing.T) {
	// Across the window's edge: two bans logged a week minus 8s ago, read
	// live; the third logged while the daemon is stopped; the daemon comes
	// back once the first two are more than a week old by the clock, but
	// not by the third ban's time.
	edge := netip.MustParseAddr("192.0.2.31")
	r := newRig(t, "catch", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	t0 := time.Now().Add(-7*24*time.Hour + 8*time.Second)
	appendLines(t, r.log, e2etest.BanLine(t0, "sshd", edge), e2etest.BanLine(t0, "postfix-sasl", edge))
	r.start()
	r.sync()
	r.stop()
	appendLines(t, r.log, e2etest.BanLine(time.Now(), "nginx-http-auth", edge))
	wait := time.Until(t0.Add(7*24*time.Hour + time.Second))
	time.Sleep(wait) // the clock must pass the window's edge: that is the scenario, not a wait for a condition
	r.start()
	r.sync()
	want := map[netip.Prefix]string{netip.PrefixFrom(edge, 32): offenderJails}
	vEdge := r.judge(want)
	if !vEdge.ok() {
		t.Errorf("two bans a week minus 8s old, a third logged while the daemon was stopped %v: %v (scan blocks it; item 5)", wait.Round(time.Second), vEdge)
	}
	if _, diff := r.scanAgrees(want, r.log); len(diff) > 0 {
		t.Errorf("scan across the window's edge:\n\t%s", first(diff, 5))
	}

	// Stops at arbitrary points of a stream: every 250 lines the daemon
	// stops (SIGTERM) or starts; the lines in between are caught up.
	r = newRig(t, "stops", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	r.start()
	pop := newPopulation(9, 600, 400)
	evs := pop.events(9)
	want = pop.want()
	stops, early := 0, 0 // early: stops that came before the daemon's signal handler
	if err := stream(r.log, evs, 25, 700, func(k int) error {
		if k == 0 || k%10 != 0 {
			return nil
		}
		if r.d.exited() {
			r.start()
		} else {
			if !r.stopAtAnyPoint() {
				early++
			}
			stops++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r.d.exited() {
		r.start()
	}
	v, took := r.converge(want, 90*time.Second)
	r.alive()
	if !v.ok() {
		t.Errorf("after %d stops during the stream: %v\n%s", stops, v, r.d.tail(20))
	}
	scanned, diff := r.scanAgrees(want, r.log)
	if len(diff) > 0 {
		t.Errorf("scan disagrees with the generator:\n\t%s", first(diff, 10))
	}
	t.Logf("caught up in %v after the last start; %d of %d stops came before the daemon's signal handler was in place", took.Round(time.Millisecond), early, stops)

	// First start over bans older than now − window: the window of 1h
	// ends an hour ago, the three bans were logged two hours ago.
	old := netip.MustParseAddr("192.0.2.32")
	r2 := newRig(t, "first", "--threshold", "3", "--window", "1h")
	t2 := time.Now().Add(-2 * time.Hour)
	appendLines(t, r2.log, e2etest.BanLine(t2, "sshd", old), e2etest.BanLine(t2.Add(time.Second), "postfix-sasl", old), e2etest.BanLine(t2.Add(2*time.Second), "nginx-http-auth", old))
	r2.start()
	r2.sync()
	want2 := map[netip.Prefix]string{netip.PrefixFrom(old, 32): offenderJails}
	vFirst := r2.judge(want2)
	if !vFirst.ok() {
		t.Errorf("first start over three bans within 2s logged 2h ago, window 1h: %v (scan blocks it; item 5)", vFirst)
	}
	if _, diff := r2.scanAgrees(want2, r2.log); len(diff) > 0 {
		t.Errorf("scan of the first-start log:\n\t%s", first(diff, 5))
	}
	t.Logf("reliability: catch-up: window edge after a %v stop: %d missed; %d stops during %s lines: %s offenders (scan: %s), %d missed, %d wrong, %d double; first start over old bans: %d missed",
		wait.Round(time.Second), vEdge.missed, stops, commas(len(evs)), commas(len(want)), commas(scanned), v.missed, v.wrong, v.double, vFirst.missed)
}
