package reliability

import (
	"testing"
	"time"
)

// testReboot blocks a population, kills the daemon, replaces the network
// namespace with a fresh one (a reboot: no sets, no rules) and checks that
// `recidivist restore` alone brings back every entry of the mirror.
func testReboot(t *testing.T) {
	const offenders, near = 2000, 1000
	r := newRig(t, "reboot", "--threshold", "3", "--window", "1w")
	pop := newPopulation(2, offenders, near)
	lines := pop.writeAll(t, r.log, 2)
	r.start()
	want := pop.want()
	v, took := r.converge(want, 90*time.Second)
	if !v.ok() {
		t.Fatalf("before the reboot (first start over %d lines): %v\n%s", lines, v, r.d.tail(30))
	}
	t.Logf("first start blocked %d offenders of %d lines in %v", len(want), lines, took.Round(time.Millisecond))

	r.d.kill(t)
	r.ns.reboot(t)
	if k, err := r.ns.kernel(r.set); err != nil || len(k) != 0 {
		t.Fatalf("a fresh namespace holds %d entries (%v), want none", len(k), err)
	}
	began := time.Now()
	r.mustCommand("restore")
	restored := time.Since(began)
	r.mustCommand("restore") // idempotent
	if ok, err := r.ns.rulesInPlace(r.set); !ok || err != nil {
		t.Errorf("after restore the match rules are not in place (%v)", err)
	}
	v = r.judge(want)
	t.Logf("after the reboot and restore (%v): %v", restored.Round(time.Millisecond), v)
	if !v.ok() {
		t.Errorf("restore after a reboot: %v", v)
	}
	t.Logf("reliability: reboot: %s entries restored in %v, %d missed, %d wrong", commas(v.kernel), restored.Round(time.Millisecond), v.missed, v.wrong)
}
