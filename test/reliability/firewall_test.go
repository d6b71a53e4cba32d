package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// testFirewallResets blocks a population, then removes the rules and the
// sets behind the running daemon's back in the ways admins and tools do,
// and measures how long the daemon takes to put everything back. The
// reconcile interval is the default minute: what repairs is the nf_tables
// watch and the header check every 2 s.
func testFirewallResets(t *testing.T) {
	r := newRig(t, "fw", "--threshold", "3", "--window", "1w")
	pop := newPopulation(4, 200, 100)
	pop.writeAll(t, r.log, 4)
	r.start()
	want := pop.want()
	if v, _ := r.converge(want, 60*time.Second); !v.ok() {
		t.Fatalf("before the resets: %v\n%s", v, r.d.tail(30))
	}
	set6 := r.set + "6"
	resets := []struct {
		name string
		cmds [][]string
	}{
		{"iptables -F", [][]string{{"iptables", "-w", "-F", "INPUT"}, {"ip6tables", "-w", "-F", "INPUT"}}},
		{"our rule deleted", [][]string{{"iptables", "-w", "-D", "INPUT", "1"}, {"ip6tables", "-w", "-D", "INPUT", "1"}}},
		{"nft flush ruleset", [][]string{{"nft", "flush", "ruleset"}}},
		{"ipset flush", [][]string{{"ipset", "flush", r.set}, {"ipset", "flush", set6}}},
		{"iptables -F + ipset destroy", [][]string{
			{"iptables", "-w", "-F", "INPUT"}, {"ip6tables", "-w", "-F", "INPUT"},
			{"ipset", "destroy", r.set}, {"ipset", "destroy", set6},
		}},
	}
	var figures []string
	for _, reset := range resets {
		// The daemon may put a rule back between the flush and the
		// destroy (the set is then "in use by a kernel component"): do
		// the whole reset again until every step of one round succeeds.
		if _, err := waitFor(30*time.Second, func() (bool, error) {
			for _, c := range reset.cmds {
				res := run(t, append([]string{"ip", "netns", "exec", r.ns.name}, c...)...)
				if res.code != 0 {
					return false, fmt.Errorf("%s: exit %d: %s", strings.Join(c, " "), res.code, res.stderr)
				}
			}
			return true, nil
		}); err != nil {
			t.Fatalf("%s: %v", reset.name, err)
		}
		var v verdict
		took, err := waitFor(60*time.Second, func() (bool, error) {
			ok, err := r.ns.rulesInPlace(r.set)
			if err != nil || !ok {
				return false, err
			}
			v = r.judge(want)
			return v.ok(), nil
		})
		r.alive()
		if err != nil {
			t.Errorf("after %s: not healed within 60s (%v): %v\n%s", reset.name, err, v, r.d.tail(20))
			figures = append(figures, reset.name+" not healed")
			continue
		}
		t.Logf("after %s: rules and %d entries back in %v", reset.name, v.kernel, took.Round(time.Millisecond))
		figures = append(figures, fmt.Sprintf("%s healed in %v", reset.name, took.Round(time.Millisecond)))
	}
	t.Logf("reliability: firewall: %s entries, reconcile-interval 1m: %s", commas(len(want)), strings.Join(figures, ", "))
}
