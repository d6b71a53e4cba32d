package ipsetstore_test

import (
	"net/netip"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

func TestAPlanLeavesTheEntriesItIsToldToKeepAsTheyAre(t *testing.T) {
	fake, err := ipsettest.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustReconcile(t, fake, []ipsetstore.Entry{{Prefix: pfx("192.0.2.1")}, {Prefix: pfx("192.0.2.2")}})
	plan, err := ipsetstore.Diff(mustList(t, fake), []ipsetstore.Entry{{Prefix: pfx("192.0.2.3")}})
	if err != nil {
		t.Fatal(err)
	}
	// 192.0.2.2 was put in the sets after the listing by someone whose
	// word wins (an offender not recorded in the mirror yet).
	plan.Keep(func(p netip.Prefix) bool { return p == pfx("192.0.2.2") })
	rep, err := plan.Apply(fake)
	if err != nil {
		t.Fatal(err)
	}
	got := byPrefix(mustList(t, fake))
	if rep.Added != 1 || rep.Removed != 1 || len(got) != 2 || got[pfx("192.0.2.2")].Prefix != pfx("192.0.2.2") || got[pfx("192.0.2.3")].Prefix != pfx("192.0.2.3") {
		t.Errorf("after the plan: %+v, sets %v; want 192.0.2.1 removed, 192.0.2.3 added, 192.0.2.2 kept", rep, got)
	}
}
