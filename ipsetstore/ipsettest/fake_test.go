package ipsettest_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

func newFake(t *testing.T, chains ...string) *ipsettest.Fake {
	t.Helper()
	f, err := ipsettest.New(ipsetstore.Config{SetName: "recidivist", Chains: chains, Target: "DROP"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := f.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return f
}

var addr = netip.MustParsePrefix("192.0.2.1/32")

func TestFailNextFailsOneCallAndChangesNothing(t *testing.T) {
	f := newFake(t, "INPUT")
	boom := errors.New("netlink: boom")
	f.FailNext(boom)
	if err := f.Add(ipsetstore.Entry{Prefix: addr}); !errors.Is(err, boom) {
		t.Fatalf("Add after FailNext = %v, want the injected error", err)
	}
	if es, _ := f.List(); len(es) != 0 {
		t.Fatalf("the failed Add left %v in the set", es)
	}
	if err := f.Add(ipsetstore.Entry{Prefix: addr}); err != nil {
		t.Fatalf("the call after the failed one = %v, want success", err)
	}
}

func TestTimeoutsRunOnTheFakesClock(t *testing.T) {
	f := newFake(t, "INPUT")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return now }
	if err := f.Add(ipsetstore.Entry{Prefix: addr, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(20*time.Second + 500*time.Millisecond)
	es, _ := f.List()
	if len(es) != 1 || es[0].Timeout != 39*time.Second {
		t.Fatalf("after 20.5s List = %v, want 39s remaining (whole seconds, rounded down like the kernel)", es)
	}
	now = now.Add(40 * time.Second)
	if es, _ := f.List(); len(es) != 0 {
		t.Fatalf("after the timeout List = %v, want the entry expired", es)
	}
}

func TestAMissingChainIsPendingUntilItAppears(t *testing.T) {
	f, err := ipsettest.New(ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT", "DOCKER-USER"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	f.RemoveChain("DOCKER-USER")
	r, err := f.Ensure()
	if err != nil {
		t.Fatalf("Ensure with DOCKER-USER missing = %v, want no error", err)
	}
	if len(r.SetsCreated) != 2 || len(r.Pending) != 2 || len(r.RulesCreated) != 2 {
		t.Errorf("Ensure with DOCKER-USER missing = %+v, want both sets and INPUT's rules created, DOCKER-USER pending", r)
	}
	st, err := f.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rules {
		if r.Chain == "DOCKER-USER" && (r.ChainExists || r.Present || !r.Pending) {
			t.Errorf("status of the missing chain: %+v, want pending", r)
		}
	}
	if !st.Healthy() {
		t.Errorf("status with only a pending chain short = %+v, want healthy", st)
	}
	f.AddChain("DOCKER-USER")
	if r, err = f.Ensure(); err != nil || len(r.Pending) != 0 || len(r.RulesCreated) != 2 {
		t.Errorf("Ensure once DOCKER-USER exists = %+v, %v, want its two rules created", r, err)
	}
}

func TestCountersSurviveAnUpdateAndAreLostByASwap(t *testing.T) {
	f := newFake(t, "INPUT")
	if err := f.Add(ipsetstore.Entry{Prefix: addr}); err != nil {
		t.Fatal(err)
	}
	packets := func() uint64 {
		t.Helper()
		cs, err := f.ListCounted()
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListCounted = %v, %v; want one entry", cs, err)
		}
		return cs[0].Packets
	}
	if !f.Hit(addr, 3) {
		t.Fatal("Hit found no entry")
	}
	if err := f.Add(ipsetstore.Entry{Prefix: addr, Timeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := packets(); got != 3 {
		t.Errorf("after an update the entry counts %d packets, want 3 (kept)", got)
	}
	if err := f.Replace([]ipsetstore.Entry{{Prefix: addr}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := packets(); got != 0 {
		t.Errorf("after a swap the entry counts %d packets, want 0 (a new entry)", got)
	}
}
