package reliability

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// testBanUnbanRace runs 100 back-to-back `ban` then `unban` pairs while
// the daemon is busy with a stream of offenders: once unban returns the
// address is out of the kernel, and still out a second later (item 7).
func testBanUnbanRace(t *testing.T) {
	const pairs = 100
	r := newRig(t, "race", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "1m"}
	r.start()
	r.ready()
	pop := newPopulation(10, 1500, 500)
	done := make(chan error, 1)
	go func() { done <- stream(r.log, pop.events(10), 25, 300, nil) }()

	var (
		stillIn  []string // in the kernel right after unban returned
		unbanned []time.Time
		addrs    []netip.Addr
	)
	for i := range pairs {
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
		r.mustCommand("ban", a.String())
		r.mustCommand("unban", a.String())
		unbanned = append(unbanned, time.Now())
		addrs = append(addrs, a)
		k, err := r.ns.setMembers(r.set)
		if err != nil {
			t.Fatal(err)
		}
		if k[netip.PrefixFrom(a, 32)] {
			stillIn = append(stillIn, fmt.Sprintf("pair %d: %s in set %s right after unban returned", i+1, a, r.set))
		}
	}
	busy := true
	select {
	case err := <-done:
		busy = false
		if err != nil {
			t.Fatal(err)
		}
	default:
	}
	// A second after the last unban every address has been out for a
	// second or more; a stale reconcile would have put some back.
	time.Sleep(time.Until(unbanned[len(unbanned)-1].Add(time.Second))) // the promise is about "a second later": this is the time it names
	k, err := r.ns.setMembers(r.set)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := r.mirror()
	if err != nil {
		t.Fatal(err)
	}
	var back []string
	for i, a := range addrs {
		p := netip.PrefixFrom(a, 32)
		if k[p] {
			back = append(back, fmt.Sprintf("%s in set %s %v after its unban returned", a, r.set, time.Since(unbanned[i]).Round(time.Millisecond)))
		}
		if c, ok := m[p]; ok {
			back = append(back, fmt.Sprintf("%s in the mirror (%q) after its unban returned", a, c))
		}
	}
	if len(stillIn) > 0 {
		t.Errorf("%d of %d unbans returned with the address still blocked:\n\t%s", len(stillIn), pairs, first(stillIn, 10))
	}
	if len(back) > 0 {
		t.Errorf("%d of %d unbanned addresses blocked again a second later:\n\t%s", len(back), pairs, first(back, 10))
	}
	if busy {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	r.alive()
	t.Logf("reliability: ban/unban race: %d pairs (daemon busy with a stream: %v), %d still in after unban returned, %d back a second later%s",
		pairs, busy, len(stillIn), len(back), map[bool]string{true: "", false: " (the stream ended before the pairs did)"}[busy])
}
