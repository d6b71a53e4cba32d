package fleet_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
)

// records is the sorted "field state" list of a snapshot of f.
func records(t *testing.T, f fleet.Fleet) []string {
	t.Helper()
	s, err := f.Snapshot(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range s.Records {
		out = append(out, fleet.Field(r.Prefix)+" "+string(r.State))
	}
	slices.Sort(out)
	return out
}

func TestASweepDropsExpiredBlocksAndUnbansOlderThanTheWindowAndKeepsTheRest(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a := h.host("a")
		mustInit(t, a, hourRule)
		now := t0.Add(10 * time.Hour)
		for _, r := range []fleet.Record{
			{Prefix: netip.MustParsePrefix("203.0.113.1/32"), State: fleet.Block, Version: t0, Expires: now.Add(-time.Second), Host: "a"},     // expired
			{Prefix: netip.MustParsePrefix("203.0.113.2/32"), State: fleet.Block, Version: t0, Expires: now.Add(time.Minute), Host: "a"},      // in force
			{Prefix: netip.MustParsePrefix("203.0.113.3/32"), State: fleet.Block, Version: t0, Host: "a"},                                     // permanent
			{Prefix: netip.MustParsePrefix("203.0.113.4/32"), State: fleet.Unban, Version: now.Add(-time.Hour - time.Millisecond), Host: "a"}, // older than the window
			{Prefix: netip.MustParsePrefix("203.0.113.5/32"), State: fleet.Unban, Version: now.Add(-30 * time.Minute), Host: "a"},             // still needed
		} {
			if _, err := a.PutRecord(ctxFor(t), r, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		n, err := a.(fleet.Sweeper).Sweep(ctxFor(t), now, hourRule.Window)
		if err != nil || n != 2 {
			t.Fatalf("Sweep = %d, %v; want the expired block and the old unban, 2", n, err)
		}
		want := []string{"203.0.113.2 block", "203.0.113.3 block", "203.0.113.5 unban"}
		if got := records(t, a); !slices.Equal(got, want) {
			t.Fatalf("after the sweep: %v, want %v", got, want)
		}
		// the unban still needed goes on forgiving; a sweep again finds nothing
		if r := push(t, a, fleet.Event{Addr: netip.MustParseAddr("203.0.113.5"), Time: now.Add(-31 * time.Minute), Jail: "sshd", Seq: 1}); r.Outcome != fleet.Forgiven {
			t.Fatalf("a ban logged before the kept unban: %v, want forgiven", r.Outcome)
		}
		if n, err := a.(fleet.Sweeper).Sweep(ctxFor(t), now, hourRule.Window); n != 0 || err != nil {
			t.Fatalf("a second sweep = %d, %v; want 0", n, err)
		}
	})
}

func TestAWriterSweepsTheMeetingPointWhenIdle(t *testing.T) {
	mem := fleet.NewMemory()
	a := mem.Host("a")
	mustInit(t, a, hourRule)
	old := fleet.Record{Prefix: netip.MustParsePrefix("203.0.113.9/32"), State: fleet.Unban, Version: time.Now().Add(-2 * time.Hour), Host: "b"}
	if _, err := a.PutRecord(ctxFor(t), old, 0, 0); err != nil {
		t.Fatal(err)
	}
	w := &fleet.Writer{Fleet: a, Host: "a", Outbox: newOutbox(), Window: time.Hour, Idle: 10 * time.Millisecond,
		SweepEvery: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Mirror: func() ([]fleet.Record, error) { return nil, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "the writer drops the unban older than the window", func() bool { return len(mem.Records()) == 0 })
}
