package fleet_test

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// TestAFrozenRedisOnlyDelaysTheFleet freezes redis-server with SIGSTOP (the
// kernel still accepts connections, nothing answers) while a host queues
// bans: the writer reports the link down and its backlog, nothing waits
// on it, and after SIGCONT the backlog is pushed and the other host gets
// the fleet block.
func TestAFrozenRedisOnlyDelaysTheFleet(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TCP: true})
	rule := fleet.Rule{Threshold: 3, Window: time.Hour}
	dial := func(host string) fleet.Fleet {
		f, err := fleet.Dial(fleet.Options{URL: srv.URL(), Name: "frozen", Host: host})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := newHost(dial("a"), "a", time.Hour), newHost(dial("b"), "b", time.Hour)
	a.w.Rule = &rule
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	a.run(ctx, &wg)
	b.run(ctx, &wg)
	waitFor(t, "a's writer connected", func() bool { return a.w.Status().Connected })

	srv.Freeze()
	frozen := time.Now()
	var queued time.Duration
	for i := range 3 {
		start := time.Now()
		a.out.add(fleet.Item{Event: &fleet.Event{Addr: netip.MustParseAddr("203.0.113.99"), Time: time.Now().Add(time.Duration(i) * time.Second), Jail: "sshd"}})
		queued = max(queued, time.Since(start))
	}
	down := waitFor(t, "a's writer reports the link down with a backlog of 3", func() bool {
		s := a.w.Status()
		return !s.Connected && s.Backlog == 3
	})
	if slices.Contains(b.blocked(), "203.0.113.99") {
		t.Fatal("b has the block while redis is frozen")
	}
	srv.Thaw()
	up := waitFor(t, "b gets the fleet block after SIGCONT", func() bool { return slices.Equal(b.blocked(), []string{"203.0.113.99"}) })
	if s := a.w.Status(); s.Backlog != 0 {
		t.Fatalf("a's backlog after the thaw: %+v", s)
	}
	t.Logf("frozen: slowest queueing of a ban %v; link reported down %v after the freeze (backlog 3); block at b %v after SIGCONT (frozen %v in all)",
		queued, down.Round(time.Millisecond), up.Round(time.Millisecond), time.Since(frozen).Round(time.Millisecond))
}
