package e2e

import (
	"net/netip"
	"testing"
	"time"
)

// TestDaemon_blocks_repeat_offenders_by_real_packets_across_a_reboot_and_an_unban
// runs the built binary in a namespace and checks PRODUCT.md's promises
// with real packets from a second namespace: offenders are dropped within
// a second of the deciding Ban line, others are not; after SIGKILL and a
// fresh namespace (a reboot) `restore` brings every block back and the
// restarted daemon counts no line twice; `unban`, with the daemon running
// or stopped, lets the address in at once and for good, until three new
// bans.
func TestDaemon_blocks_repeat_offenders_by_real_packets_across_a_reboot_and_an_unban(t *testing.T) {
	var (
		srv4, srv6         = netip.MustParseAddr("10.231.0.1"), netip.MustParseAddr("fd00:e2e::1")
		offender4          = netip.MustParseAddr("10.231.0.10")
		offender6          = netip.MustParseAddr("fd00:e2e::10")
		twice4, twice6     = netip.MustParseAddr("10.231.0.20"), netip.MustParseAddr("fd00:e2e::20")
		ignored4, ignored6 = netip.MustParseAddr("10.231.0.30"), netip.MustParseAddr("fd00:e2e::30")
		markers            = []netip.Addr{
			netip.MustParseAddr("192.0.2.71"), netip.MustParseAddr("192.0.2.72"),
			netip.MustParseAddr("2001:db8::73"), netip.MustParseAddr("192.0.2.74"),
		}
	)
	r := newRig(t, "e2e", srv4, srv6,
		[]netip.Addr{offender4, offender6, twice4, twice6, ignored4, ignored6},
		"--threshold", "3", "--window", "1w", "--ignore", "10.231.0.30/32", "--ignore", "fd00:e2e::30/128")
	r.startDaemon()
	eventually(t, time.Now(), 10*time.Second, "the daemon creates its sets and rules", r.d, func() (bool, error) {
		r.d.alive(t)
		_, err4 := setMembers(r.tp.srv, r.set)
		_, err6 := setMembers(r.tp.srv, familySet(r.set, true))
		if err4 != nil || err6 != nil {
			return false, nil
		}
		return rulesInPlace(r.tp.srv, r.set)
	})
	checkRules(t, r.tp.srv, r.set, true)
	// Every client gets through before any ban: a later timeout is the
	// firewall, not the network.
	r.checkReachable(offender4, offender6, twice4, twice6, ignored4, ignored6)

	// Two bans each in different jails, and around them lines that must
	// never count: Found, Unban, Restore Ban, already banned, Reban, and
	// the excluded recidive jail.
	now := time.Now()
	appendLines(t, r.log,
		foundLine(now, "sshd", offender4),
		banLine(now, "sshd", offender4),
		banLine(now, "postfix-sasl", offender6),
		banLine(now, "sshd", twice4),
		actionLine(now, "[sshd] Unban "+twice4.String()),
		actionLine(now, "[sshd] Restore Ban "+twice4.String()),
		actionLine(now, "[sshd] "+twice4.String()+" already banned"),
		actionLine(now, "[sshd] Reban "+twice4.String()+", action 'iptables-multiport'"),
		banLine(now, "recidive", twice4),
		banLine(now, "postfix-sasl", twice4),
		banLine(now, "sshd", twice6),
		banLine(now, "nginx-http-auth", twice6),
		banLine(now, "sshd", ignored4),
		banLine(now, "postfix-sasl", ignored4),
		banLine(now, "nginx-http-auth", ignored4),
		banLine(now, "sshd", ignored6),
		banLine(now, "sshd", ignored6),
		banLine(now, "postfix-sasl", ignored6),
		banLine(now, "postfix-sasl", offender4),
		banLine(now, "nginx-http-auth", offender6),
	)
	for _, o := range []struct {
		addr  netip.Addr
		jail  string
		jails string
	}{
		{offender4, "nginx-http-auth", "nginx-http-auth,postfix-sasl,sshd"},
		{offender6, "sshd", "nginx-http-auth,postfix-sasl,sshd"},
	} {
		since := appendLines(t, r.log, banLine(time.Now(), o.jail, o.addr))
		t.Logf("%s: dropped %v after its third Ban line was written", o.addr, r.waitBlocked(o.addr, since))
		r.checkMirror(o.addr, 3, o.jails)
	}
	r.checkReachable(twice4, twice6, ignored4, ignored6)
	r.checkMirrorLacks(twice4, twice6, ignored4, ignored6)

	// A reboot: the daemon dies without warning, the kernel state is gone.
	r.reboot()
	if m, err := setMembers(r.tp.srv, r.set); err == nil {
		t.Fatalf("a fresh namespace already has set %s: %v", r.set, m)
	}
	r.command("restore")
	r.command("restore") // idempotent: no second rule, no error
	checkRules(t, r.tp.srv, r.set, true)
	r.checkBlocked(offender4, offender6)
	r.checkReachable(twice4, twice6, ignored4, ignored6)

	r.startDaemon()
	r.sync(markers[0])
	checkRules(t, r.tp.srv, r.set, true)
	r.checkBlocked(offender4, offender6)
	r.checkReachable(twice4, twice6, ignored4, ignored6)
	// twice4's two bans were kept and not counted again: one more makes
	// three, and the mirror says three.
	since := appendLines(t, r.log, banLine(time.Now(), "nginx-http-auth", twice4))
	t.Logf("%s: dropped %v after its third Ban line (after the restart)", twice4, r.waitBlocked(twice4, since))
	r.checkMirror(twice4, 3, "nginx-http-auth,postfix-sasl,sshd")

	// unban lets offender4 in at once; its old lines never count again,
	// not by this daemon and not after a restart.
	start := time.Now()
	r.command("unban", offender4.String())
	t.Logf("%s: reachable %v after unban began", offender4, r.waitReachable(offender4, start))
	r.checkMirrorLacks(offender4)
	r.sync(markers[1])
	r.checkReachable(offender4)
	r.d.term(t)
	// An unban while the daemon is stopped holds too: the next start
	// forgives offender6's three old bans instead of blocking it again.
	start = time.Now()
	r.command("unban", offender6.String())
	t.Logf("%s: reachable %v after unban began (daemon stopped)", offender6, r.waitReachable(offender6, start))
	r.startDaemon()
	r.sync(markers[2])
	r.checkReachable(offender4, offender6)
	r.checkMirrorLacks(offender4, offender6)
	r.checkBlocked(twice4)

	// Later bans count afresh: two are not enough, the third blocks.
	now = time.Now()
	appendLines(t, r.log, banLine(now, "sshd", offender4), banLine(now, "sshd", offender4))
	r.sync(markers[3])
	r.checkReachable(offender4)
	since = appendLines(t, r.log, banLine(time.Now(), "postfix-sasl", offender4))
	t.Logf("%s: dropped %v after its third new Ban line", offender4, r.waitBlocked(offender4, since))
	r.checkMirror(offender4, 3, "postfix-sasl,sshd")
	r.d.alive(t)
}
