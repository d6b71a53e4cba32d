package daemon

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/statedir"
)

// listGate is the fake kernel whose next List, once armed, waits for the
// test; it records the daemon's adds of watch.
type listGate struct {
	*ipsettest.Fake
	entered, release chan struct{}
	watch            netip.Prefix

	mu      sync.Mutex
	armed   bool
	addedAt []time.Time
}

func (g *listGate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed = true
}

func (g *listGate) List() ([]ipsetstore.Entry, error) {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Fake.List()
}

func (g *listGate) Add(es ...ipsetstore.Entry) error {
	for _, e := range es {
		if e.Prefix == g.watch {
			g.mu.Lock()
			g.addedAt = append(g.addedAt, time.Now())
			g.mu.Unlock()
		}
	}
	return g.Fake.Add(es...)
}

func (g *listGate) addsAfter(t time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, at := range g.addedAt {
		if at.After(t) {
			n++
		}
	}
	return n
}

func TestDaemon_an_unban_while_a_reconcile_reads_the_sets_stays_unbanned(t *testing.T) {
	h := newHarness(t, nil)
	x := prefix("198.51.100.7")
	gate := &listGate{Fake: h.fake, entered: make(chan struct{}, 1), release: make(chan struct{}), watch: x}
	h.store = gate
	h.start()
	released := sync.OnceFunc(func() { close(gate.release) })
	t.Cleanup(released)
	mirror := blocklist.Open(statedir.Mirror(h.cfg.StateDir))

	gate.arm()
	if _, err := Ban(mirror, h.fake, []blocklist.Entry{{Prefix: x, Manual: true}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.entered: // the reconcile the ban set off has read the mirror with x
	case <-time.After(30 * time.Second):
		t.Fatal("no reconcile listed the sets after a ban")
	}
	if _, err := Unban(mirror, h.fake, []netip.Prefix{x}); err != nil {
		t.Fatal(err)
	}
	unbanned := time.Now()
	// The daemon blocks an offender meanwhile: its mirror write takes the
	// unban along.
	for range 3 {
		h.ban(time.Now(), "sshd", "192.0.2.90")
	}
	released()
	h.eventually("the offender blocked", func() bool { return h.inSet("192.0.2.90") && h.inMirror("192.0.2.90") })
	h.settle()
	if n := gate.addsAfter(unbanned); n > 0 || h.inSet("198.51.100.7") {
		t.Errorf("the daemon put 198.51.100.7 back in the kernel %d times after its unban returned; in the set now: %v\n%s", n, h.inSet("198.51.100.7"), h.logs.String())
	}
}
