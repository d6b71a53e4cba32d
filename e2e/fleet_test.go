package e2e

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/statedir"
)

// Issue 11, points 3 and 4: three daemons in three network namespaces, one
// Redis. Deadlines are generous (the machine is loaded); the figures the
// issue asks for (≤ 1 s) are printed.
func TestFleet_three_hosts_count_together_and_keep_one_blocklist(t *testing.T) {
	r := newFleetRig(t, 3, "ban-time = \"8s\"\n")
	r.startAll()
	a, b, c := r.hosts[0], r.hosts[1], r.hosts[2]
	const within = 30 * time.Second

	// Point 3, round robin: X has one Ban on each host (three jails), Y two.
	x, y := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")
	now := time.Now()
	appendLines(t, a.log, banLine(now.Add(-3*time.Second), "sshd", y), banLine(now.Add(-2*time.Second), "sshd", x))
	appendLines(t, b.log, banLine(now.Add(-2*time.Second), "postfix", y), banLine(now.Add(-time.Second), "postfix", x))
	third := appendLines(t, c.log, banLine(now, "dovecot", x))
	for _, h := range r.hosts {
		d := r.waitIn(h, x, third, within)
		t.Logf("round robin: %s in %s's set and mirror %v after the third line (issue: ≤ 1 s)", x, h.name, d.Round(time.Millisecond))
	}
	var expires []string
	for _, h := range r.hosts {
		if _, ok := r.mirror(h)[netip.PrefixFrom(y, 32)]; ok || inSet(t, h.ns, h.set, y) {
			t.Errorf("%s with two fleet bans is blocked on %s", y, h.name)
		}
		expires = append(expires, commentField(r.mirror(h)[netip.PrefixFrom(x, 32)], "expires"))
	}
	if rec, ok := r.record(y); ok {
		t.Errorf("the fleet holds a record of %s with two bans: %s", y, rec)
	}
	if expires[0] == "" || expires[0] != expires[1] || expires[1] != expires[2] {
		t.Errorf("the ban-time block of %s expires at %q on a, b, c: want one expires= everywhere", x, expires)
	}

	// Point 4: ban on A reaches B and C.
	z := netip.MustParseAddr("203.0.113.12")
	start := time.Now()
	r.command(a, "ban", z.String())
	for _, h := range []*fleetHost{b, c} {
		t.Logf("ban on a: %s in %s's set %v after the command began (issue: ≤ 1 s)", z, h.name, r.waitIn(h, z, start, within).Round(time.Millisecond))
	}
	// unban on B: out of A and C
	start = time.Now()
	r.command(b, "unban", z.String())
	for _, h := range []*fleetHost{a, c} {
		t.Logf("unban on b: %s out of %s's set %v after the command began (issue: ≤ 1 s)", z, h.name, r.waitOut(h, z, start, within).Round(time.Millisecond))
	}

	// ban-time blocks expire on every host (with the one expires= above)
	for _, h := range r.hosts {
		r.waitOut(h, x, third, 60*time.Second)
	}
	t.Logf("ban-time: %s expired on a, b and c (expires=%s), %v after the third line", x, expires[0], time.Since(third).Round(time.Millisecond))

	// Old bans never count again: two bans of U on A, U banned and unbanned
	// by hand; C, stopped, logs three bans of U from before the unban; when
	// it comes back they do not block U anywhere. Three new bans do.
	u := netip.MustParseAddr("203.0.113.13")
	before := time.Now().Add(-10 * time.Second)
	appendLines(t, a.log, banLine(before, "sshd", u), banLine(before.Add(time.Second), "sshd", u))
	r.command(a, "ban", u.String())
	r.waitIn(c, u, time.Now(), within)
	r.stop(c)
	appendLines(t, c.log, banLine(before.Add(2*time.Second), "sshd", u), banLine(before.Add(3*time.Second), "sshd", u), banLine(before.Add(4*time.Second), "sshd", u))
	time.Sleep(20 * time.Millisecond) // the unban's version must follow the backlog's ban times by more than a clock tick
	r.command(b, "unban", u.String())
	r.waitOut(a, u, time.Now(), within)
	r.start(c)
	r.waitOut(c, u, time.Now(), within)
	eventually(t, time.Now(), within, "c pushed its backlog", c.d, func() (bool, error) {
		return strings.Contains(c.d.out.String(), "recidivist starting") && pushedAll(c), nil
	})
	time.Sleep(2 * time.Second) // a wrong block would come now
	for _, h := range r.hosts {
		if inSet(t, h.ns, h.set, u) {
			t.Errorf("%s blocked again on %s by bans logged before its unban", u, h.name)
		}
	}
	if rec, _ := r.record(u); !strings.Contains(rec, `"s":"unban"`) {
		t.Errorf("the fleet's record of %s after the backlog: %s, want the unban", u, rec)
	}
	fresh := time.Now()
	appendLines(t, a.log, banLine(fresh, "sshd", u))
	appendLines(t, b.log, banLine(fresh.Add(time.Millisecond), "sshd", u))
	third = appendLines(t, c.log, banLine(fresh.Add(2*time.Millisecond), "sshd", u))
	for _, h := range r.hosts {
		t.Logf("three new bans of %s after its unban: in %s's set %v after the third", u, h.name, r.waitIn(h, u, third, within).Round(time.Millisecond))
	}

	// A hand edit of C's mirror propagates like ban and unban.
	e := netip.MustParseAddr("198.51.100.77")
	f, err := os.OpenFile(statedir.Mirror(c.state), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := f.WriteString(e.String() + " # added by hand\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, h := range []*fleetHost{a, b} {
		t.Logf("hand edit: line added to c's mirror, %s in %s's set %v later", e, h.name, r.waitIn(h, e, start, within).Round(time.Millisecond))
	}
	body, err := os.ReadFile(statedir.Mirror(c.state))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(body), "\n") {
		if !strings.HasPrefix(l, e.String()+" ") {
			kept = append(kept, l)
		}
	}
	start = time.Now()
	if err := os.WriteFile(statedir.Mirror(c.state), []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*fleetHost{a, b} {
		t.Logf("hand edit: line deleted from c's mirror, %s out of %s's set %v later", e, h.name, r.waitOut(h, e, start, within).Round(time.Millisecond))
	}

	// A remote record for an ignored address, 0.0.0.0/0 or a range too
	// wide is refused and logged, never applied.
	evil := r.client("evil")
	bad := []string{"192.0.2.9/32", "0.0.0.0/0", "10.0.0.0/8"}
	for _, p := range bad {
		putRecord(t, evil, fleet.Record{Prefix: netip.MustParsePrefix(p), State: fleet.Block, Version: time.Now(), Host: "evil", Origin: "manual"})
	}
	marker := netip.MustParseAddr("203.0.113.99") // applied after them: once it is in, they were judged
	putRecord(t, evil, fleet.Record{Prefix: netip.PrefixFrom(marker, 32), State: fleet.Block, Version: time.Now(), Host: "evil", Origin: "manual"})
	for _, h := range r.hosts {
		r.waitIn(h, marker, time.Now(), within)
		m := r.mirror(h)
		for _, p := range bad {
			if _, ok := m[netip.MustParsePrefix(p)]; ok {
				t.Errorf("%s applied the remote record of %s", h.name, p)
			}
			if !strings.Contains(h.d.out.String(), "fleet record refused") || !strings.Contains(h.d.out.String(), "prefix="+p) {
				t.Errorf("%s did not log the refusal of %s", h.name, p)
			}
		}
		_, sets := r.blocked(h)
		for _, s := range sets {
			if s.Bits() < 16 || s.Addr() == netip.MustParseAddr("192.0.2.9") {
				t.Errorf("%s's set holds %s", h.name, s)
			}
		}
	}
}

// pushedAll reports whether h's writer has pushed its whole outbox.
func pushedAll(h *fleetHost) bool {
	b, err := os.ReadFile(statedir.FleetPushed(h.state))
	if err != nil {
		return false
	}
	ob, err := os.ReadFile(statedir.FleetOutbox(h.state))
	if err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(ob)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	return len(f) > 1 && f[1] == strings.TrimSpace(string(b))
}
