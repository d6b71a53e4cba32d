package e2e

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetEscalation_drops_a_never_seen_address_of_the_network_and_unban_opens_only_the_member
// runs the built daemon with net escalation on, with each backend, and
// real packets from a second namespace: three offenders of one /24 make
// the daemon block the /24, so that an address of it that never offended
// is dropped; `unban` of one member lets that member through while the
// rest of the range stays dropped.
func TestNetEscalation_drops_a_never_seen_address_of_the_network_and_unban_opens_only_the_member(t *testing.T) {
	for _, backend := range []string{"ipset", "nftables"} {
		t.Run(backend, func(t *testing.T) { netEscalation(t, backend) })
	}
}

func netEscalation(t *testing.T, backend string) {
	var (
		srv4    = netip.MustParseAddr("10.232.0.1")
		srv6    = netip.MustParseAddr("fd00:e2f::1")
		members = []netip.Addr{netip.MustParseAddr("10.232.7.7"), netip.MustParseAddr("10.232.7.9"), netip.MustParseAddr("10.232.7.33")}
		fourth  = netip.MustParseAddr("10.232.7.44") // joins the range once it is there
		never   = netip.MustParseAddr("10.232.7.200")
		other   = netip.MustParseAddr("10.232.8.5") // another /24: untouched
	)
	r := newRig(t, "net"+backend[:2], srv4, srv6, append(members, never, other, fourth),
		"--threshold", "1", "--window", "1w")
	// In the file, so that unban uses the same backend and thresholds.
	if err := os.WriteFile(r.conf, []byte("backend = \""+backend+"\"\nnet-escalation = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The clients' /24s are not the server's: route them both ways.
	route := func() {
		for _, args := range [][]string{
			{"-n", r.tp.srv, "route", "add", "10.232.7.0/24", "dev", "e2e0"},
			{"-n", r.tp.srv, "route", "add", "10.232.8.0/24", "dev", "e2e0"},
			{"-n", r.tp.cli, "route", "add", "10.232.0.0/24", "dev", "e2e1"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	route()
	reachable := func(src netip.Addr) error { return dial(r.tp.cli, src, srv4, r.srv.port, 2*time.Second) }
	for _, a := range append(members, never, other) {
		if err := reachable(a); err != nil {
			t.Fatalf("%s cannot reach the server before any ban: %v", a, err)
		}
	}
	r.startDaemon()

	now := time.Now()
	start := appendLines(t, r.log, banLine(now, "sshd", members[0]), banLine(now, "sshd", members[1]), banLine(now, "postfix-sasl", members[2]))
	dropped := func(src netip.Addr) func() (bool, error) {
		return func() (bool, error) {
			err := dial(r.tp.cli, src, srv4, r.srv.port, 300*time.Millisecond)
			if errors.Is(err, errDropped) {
				return true, nil
			}
			return false, err
		}
	}
	// Generous: the machine running the tests may be loaded.
	took := eventually(t, start, 30*time.Second, "an address of the /24 never seen dropped", r.d, dropped(never))
	t.Logf("%s: an address of the /24 never seen dropped %v after the third offender's ban line", backend, took.Round(time.Millisecond))
	m := mirrorEntries(t, filepath.Join(r.state, "blocklist"))
	if c := m[netip.MustParsePrefix("10.232.7.0/24")]; !strings.Contains(c, "net members=10.232.7.7,10.232.7.9,10.232.7.33") {
		t.Errorf("mirror line of the /24 has comment %q, want net members=…", c)
	}
	if err := reachable(other); err != nil {
		t.Errorf("%s, of another /24, cannot connect: %v", other, err)
	}

	// A fourth offender joins the range: with the threshold of 3, one
	// member's unban then leaves the range in place.
	appendLines(t, r.log, banLine(time.Now(), "sshd", fourth))
	eventually(t, time.Now(), 30*time.Second, "the fourth member in the range's line", r.d, func() (bool, error) {
		c := mirrorEntries(t, filepath.Join(r.state, "blocklist"))[netip.MustParsePrefix("10.232.7.0/24")]
		return strings.Contains(c, "10.232.7.44"), nil
	})
	if ok, err := dropped(fourth)(); !ok {
		t.Errorf("the fourth member %s: want dropped, got %v", fourth, err)
	}

	out := r.command("unban", members[1].String())
	if !strings.Contains(out, "hole in net range 10.232.7.0/24") {
		t.Errorf("unban said %q, want it to name the hole in the range", out)
	}
	// unban changes the kernel before it returns; the deadline is for a
	// loaded machine only.
	took = eventually(t, time.Now(), 30*time.Second, "the unbanned member reachable", r.d, func() (bool, error) {
		err := reachable(members[1])
		return err == nil, nil
	})
	t.Logf("%s: the unbanned member reachable %v after unban returned", backend, took.Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a reconcile of the changed mirror must keep the hole and the range
	if err := reachable(members[1]); err != nil {
		t.Errorf("the unbanned member %s cannot connect 2s later: %v", members[1], err)
	}
	for _, a := range []netip.Addr{never, members[0], members[2], fourth} {
		if ok, err := dropped(a)(); !ok {
			t.Errorf("%s: want dropped after the other member's unban, got %v", a, err)
		}
	}
	r.d.alive(t)

	// A reboot: the kernel state is gone; restore puts the range and its
	// hole back from the mirror alone.
	r.reboot()
	route()
	r.command("restore")
	if err := reachable(members[1]); err != nil {
		t.Errorf("after a reboot and restore the unbanned member %s cannot connect: %v", members[1], err)
	}
	for _, a := range []netip.Addr{never, members[0], fourth} {
		if ok, err := dropped(a)(); !ok {
			t.Errorf("%s: want dropped after a reboot and restore, got %v", a, err)
		}
	}
}
