package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
)

func fleetRecord(prefix string, s fleet.State, version time.Time, host string) fleet.Record {
	return fleet.Record{Prefix: fleet.Canonical(netip.MustParsePrefix(prefix)), State: s, Version: version.Truncate(time.Millisecond), Host: host, Jails: []string{"sshd"}, Bans: 3, Origin: "fleet"}
}

func fleetHarness(t *testing.T, mutate func(*config.Config)) *harness {
	h := newHarness(t, func(c *config.Config) {
		c.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		c.Fleet = config.Fleet{Redis: "unix:///nowhere", Name: "t", Host: "a", AcceptBlock: true, AcceptUnban: true}
		if mutate != nil {
			mutate(c)
		}
	})
	h.start()
	return h
}

func TestFleetRecordsGoThroughTheOwnerAndItsRefusalPolicy(t *testing.T) {
	h := fleetHarness(t, nil)
	now := h.clock.now()
	recs := []fleet.Record{
		fleetRecord("203.0.113.7/32", fleet.Block, now.Add(-time.Minute), "b"),
		fleetRecord("192.0.2.9/32", fleet.Block, now, "evil"),  // in the ignore list
		fleetRecord("0.0.0.0/0", fleet.Block, now, "evil"),     // everything
		fleetRecord("10.0.0.0/8", fleet.Block, now, "evil"),    // too wide without force
		fleetRecord("127.0.0.1/32", fleet.Block, now, "evil"),  // loopback
		fleetRecord("2001:db8::/16", fleet.Block, now, "evil"), // too wide
	}
	expired := fleetRecord("198.51.100.4/32", fleet.Block, now.Add(-2*time.Hour), "b")
	expired.Expires = now.Add(-time.Hour)
	recs = append(recs, expired)
	if err := h.d.ApplyFleet(context.Background(), recs, false); err != nil {
		t.Fatal(err)
	}
	if !h.inSet("203.0.113.7") || !h.inMirror("203.0.113.7") {
		t.Fatalf("the fleet block is not in force: set %v, mirror %v", h.inSet("203.0.113.7"), h.mirror())
	}
	for _, bad := range []string{"192.0.2.9", "0.0.0.0/0", "10.0.0.0/8", "127.0.0.1", "2001:db8::/16", "198.51.100.4"} {
		if h.inSet(bad) || h.inMirror(bad) {
			t.Errorf("%s from the fleet was applied; it must be refused", bad)
		}
	}
	if n := strings.Count(h.logs.String(), "fleet record refused"); n != 5 {
		t.Errorf("%d refusals logged, want 5:\n%s", n, h.logs.String())
	}
	// the same records again (a replay, a snapshot) change nothing
	before := h.mirror()
	if err := h.d.ApplyFleet(context.Background(), recs, true); err != nil {
		t.Fatal(err)
	}
	if after := h.mirror(); len(after) != len(before) {
		t.Fatalf("a replay changed the mirror: %v → %v", before, after)
	}
}

func TestAFleetUnbanRemovesOlderBlocksAndForgivesTheirBans(t *testing.T) {
	h := fleetHarness(t, nil)
	now := h.clock.now()
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{
		fleetRecord("203.0.113.8/32", fleet.Block, now.Add(-time.Minute), "b"),
		fleetRecord("203.0.113.9/32", fleet.Block, now.Add(-time.Second), "b"),
	}, false); err != nil {
		t.Fatal(err)
	}
	h.eventually("both fleet blocks in the set", func() bool { return h.inSet("203.0.113.8") && h.inSet("203.0.113.9") })
	// two bans of .10 logged before its unban, one after
	for _, at := range []time.Duration{-50 * time.Second, -40 * time.Second} {
		h.ban(now.Add(at), "sshd", "203.0.113.10")
	}
	if err := h.d.ApplyFleet(context.Background(), []fleet.Record{
		fleetRecord("203.0.113.8/32", fleet.Unban, now.Add(-30*time.Second), "c"), // newer than the block: wins
		fleetRecord("203.0.113.9/32", fleet.Unban, now.Add(-30*time.Second), "c"), // older than the block: loses
		fleetRecord("203.0.113.10/32", fleet.Unban, now.Add(-30*time.Second), "c"),
	}, false); err != nil {
		t.Fatal(err)
	}
	if h.inSet("203.0.113.8") || h.inMirror("203.0.113.8") {
		t.Fatalf("a newer fleet unban left 203.0.113.8 blocked")
	}
	if !h.inSet("203.0.113.9") || !h.inMirror("203.0.113.9") {
		t.Fatalf("an older fleet unban removed the newer block of 203.0.113.9")
	}
	h.ban(now.Add(-10*time.Second), "sshd", "203.0.113.10")
	h.settle()
	if h.inSet("203.0.113.10") {
		t.Fatalf("bans logged before the fleet unban counted again")
	}
	h.ban(now.Add(-5*time.Second), "sshd", "203.0.113.10")
	h.ban(now.Add(-4*time.Second), "sshd", "203.0.113.10")
	h.eventually("three bans after the unban block 203.0.113.10", func() bool { return h.inSet("203.0.113.10") })
}

func TestFleetAcceptBlockKeepsRemoteUnbansOut(t *testing.T) {
	h := fleetHarness(t, func(c *config.Config) { c.Fleet.AcceptUnban = false })
	now := h.clock.now()
	ctx := context.Background()
	if err := h.d.ApplyFleet(ctx, []fleet.Record{fleetRecord("203.0.113.11/32", fleet.Block, now.Add(-time.Minute), "b")}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.d.ApplyFleet(ctx, []fleet.Record{fleetRecord("203.0.113.11/32", fleet.Unban, now, "b")}, false); err != nil {
		t.Fatal(err)
	}
	if !h.inSet("203.0.113.11") || !h.inMirror("203.0.113.11") {
		t.Fatalf("a remote unban was applied on a host with fleet-accept = block")
	}
}

func TestTheFleetReaderBringsOtherHostsRecordsIntoTheKernelAndResumesFromItsCursor(t *testing.T) {
	h := fleetHarness(t, nil)
	mem := fleet.NewMemory()
	other := mem.Host("b")
	now := h.clock.now()
	put := func(addr string, s fleet.State, at time.Time) {
		t.Helper()
		if _, err := other.PutRecord(context.Background(), fleetRecord(addr, s, at, "b"), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	put("203.0.113.20/32", fleet.Block, now.Add(-time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.RunFleetReader(ctx, mem.Host("a")) }()
	h.eventually("the snapshot's block is in the set", func() bool { return h.inSet("203.0.113.20") })
	put("203.0.113.21/32", fleet.Block, now.Add(-time.Minute))
	put("203.0.113.20/32", fleet.Unban, now)
	h.eventually("the tailed block and unban are applied", func() bool { return h.inSet("203.0.113.21") && !h.inSet("203.0.113.20") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, _ := h.d.FleetReaderStatus()
	if st.Snapshots != 1 {
		t.Fatalf("reader status %+v, want exactly the first start's snapshot", st)
	}
	// a second run resumes from the saved cursor: no snapshot
	put("203.0.113.22/32", fleet.Block, now.Add(-time.Minute))
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { done <- h.d.RunFleetReader(ctx2, mem.Host("a")) }()
	h.eventually("the change made while away is applied", func() bool { return h.inSet("203.0.113.22") })
	if st, _ := h.d.FleetReaderStatus(); st.Snapshots != 0 {
		t.Fatalf("resumed with a snapshot although the cursor exists: %+v", st)
	}
}
