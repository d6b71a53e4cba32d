package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// logLine is one Ban line of one host's log.
type logLine struct {
	at   time.Time
	text string
}

// Issue 11, point 5: C stopped while A and B see 1,000 bans, manual bans
// and unbans, and logs bans of its own; restarted, it catches up — once
// by tail (its cursor still exists) and once by snapshot (chg trimmed past
// it). End: every mirror and set equals `scan` of the three logs merged,
// with the manual bans and unbans applied.
func TestFleet_an_offline_host_catches_up_by_tail_and_by_snapshot(t *testing.T) {
	r := newFleetRig(t, 3, "")
	r.startAll()
	a, b, c := r.hosts[0], r.hosts[1], r.hosts[2]
	var all []logLine // every line of the three logs
	manual := map[netip.Prefix]bool{}
	for i := range r.hosts {
		manual[netip.MustParsePrefix(fmt.Sprintf("198.18.0.%d/32", i+1))] = true // startAll's bans
	}
	unbanned := map[netip.Prefix]bool{}
	rnd := rand.New(rand.NewPCG(11, 5))
	jails := []string{"sshd", "postfix", "dovecot"}

	// write appends n lines of addresses from pool (Zipf-like: low indexes
	// often) to h's log, times increasing from base; skip are never used.
	write := func(h *fleetHost, n int, base time.Time, pool func(int) netip.Addr, size int, skip map[netip.Addr]bool) {
		t.Helper()
		zipf := rand.NewZipf(rand.New(rand.NewPCG(uint64(n), uint64(size))), 1.2, 1, uint64(size-1))
		var lines []string
		for i := range n {
			x := pool(int(zipf.Uint64()))
			if skip[x] {
				continue
			}
			at := base.Add(time.Duration(i) * time.Second).Add(time.Duration(rnd.IntN(1000)) * time.Millisecond)
			l := banLine(at, jails[rnd.IntN(len(jails))], x)
			lines = append(lines, l)
			all = append(all, logLine{at, l})
		}
		appendLines(t, h.log, lines...)
	}
	oracle := func() []netip.Prefix {
		t.Helper()
		return r.oracle(all, manual, unbanned)
	}
	converge := func(what string, hosts []*fleetHost, want []netip.Prefix, since time.Time) time.Duration {
		t.Helper()
		return eventually(t, since, 90*time.Second, what, c.d, func() (bool, error) {
			for _, h := range hosts {
				m, s := r.blocked(h)
				if !slices.Equal(m, want) || !slices.Equal(s, want) {
					return false, nil
				}
			}
			return true, nil
		})
	}
	pool1 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{100, 80, byte(i / 250), byte(i%250 + 1)}) }

	// --- tail: C stops; A and B see 1,000 bans, manual bans and unbans;
	// C logs 100 bans of its own meanwhile.
	r.stop(c)
	targets := []netip.Addr{pool1(0), pool1(1), pool1(2)} // the most frequent: offenders, then unbanned
	skip := map[netip.Addr]bool{}
	for _, x := range targets {
		skip[x] = true
	}
	base := time.Now().Add(-40 * time.Minute)
	write(a, 500, base, pool1, 400, nil)
	write(b, 500, base.Add(300*time.Millisecond), pool1, 400, nil)
	write(c, 100, base.Add(700*time.Millisecond), pool1, 400, skip) // C never bans the unbanned ones
	for _, x := range targets {
		r.waitIn(a, x, time.Now(), 60*time.Second)
	}
	for i := range 4 {
		p := netip.MustParsePrefix(fmt.Sprintf("100.90.0.%d/32", i+1))
		r.command(r.hosts[i%2], "ban", p.Addr().String())
		manual[p] = true
	}
	for i := range 4 { // on both, before the unbans
		x := netip.MustParseAddr(fmt.Sprintf("100.90.0.%d", i+1))
		r.waitIn(a, x, time.Now(), 60*time.Second)
		r.waitIn(b, x, time.Now(), 60*time.Second)
	}
	for _, x := range targets {
		r.command(b, "unban", x.String())
		unbanned[netip.PrefixFrom(x, 32)] = true
	}
	r.command(a, "unban", "100.90.0.4")
	delete(manual, netip.MustParsePrefix("100.90.0.4/32"))
	unbanned[netip.MustParsePrefix("100.90.0.4/32")] = true
	want := oracle()
	// A and B have C's lines not yet: their state is the oracle without them
	t.Logf("tail phase: %d lines on a and b, 100 on c (offline), %d manual bans, %d unbans; oracle %d blocked", 1000, len(manual), len(unbanned), len(want))
	eventually(t, time.Now(), 90*time.Second, "a and b agree", a.d, func() (bool, error) {
		ma, _ := r.blocked(a)
		mb, _ := r.blocked(b)
		return slices.Equal(ma, mb), nil
	})
	start := time.Now()
	r.start(c)
	d := converge("all three equal the oracle after c's tail catch-up", r.hosts, want, start)
	snaps := strings.Count(c.d.out.String(), "fleet: snapshot applied")
	t.Logf("tail phase: c caught up (and a, b took c's own bans) %v after its start; path: %s", d.Round(time.Millisecond), path(snaps))
	if snaps != 0 {
		t.Errorf("c took a snapshot although its cursor still existed")
	}

	// --- snapshot: C stops again; more bans and a manual ban; chg is
	// trimmed past C's cursor.
	r.stop(c)
	pool2 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{100, 81, byte(i / 250), byte(i%250 + 1)}) }
	base = time.Now().Add(-20 * time.Minute)
	write(a, 150, base, pool2, 150, nil)
	write(b, 150, base.Add(300*time.Millisecond), pool2, 150, nil)
	write(c, 50, base.Add(700*time.Millisecond), pool2, 150, nil)
	r.command(b, "ban", "100.90.1.1")
	manual[netip.MustParsePrefix("100.90.1.1/32")] = true
	want = oracle()
	eventually(t, time.Now(), 90*time.Second, "a and b agree and hold the manual ban", a.d, func() (bool, error) {
		ma, _ := r.blocked(a)
		mb, _ := r.blocked(b)
		_, ok := r.mirror(a)[netip.MustParsePrefix("100.90.1.1/32")]
		return ok && slices.Equal(ma, mb), nil
	})
	if _, err := r.redis.Do("XTRIM", "rcv:{"+fleetName+"}:chg", "MAXLEN", "0"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	r.start(c)
	d = converge("all three equal the oracle after c's snapshot catch-up", r.hosts, want, start)
	snaps = strings.Count(c.d.out.String(), "fleet: snapshot applied")
	t.Logf("snapshot phase: 300 lines on a and b, 50 on c, chg trimmed; oracle %d blocked; c caught up %v after its start; path: %s", len(want), d.Round(time.Millisecond), path(snaps))
	if snaps == 0 {
		t.Errorf("c did not take a snapshot although chg was trimmed past its cursor")
	}
}

func path(snapshots int) string {
	if snapshots == 0 {
		return "tail from the saved cursor"
	}
	return fmt.Sprintf("snapshot (%d)", snapshots)
}

// oracle is `recidivist scan` of the lines merged in time order, with the
// manual bans added and the unbans removed, sorted.
func (r *fleetRig) oracle(lines []logLine, manual, unbanned map[netip.Prefix]bool) []netip.Prefix {
	r.t.Helper()
	sorted := slices.Clone(lines)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at.Before(sorted[j].at) })
	var b strings.Builder
	for _, l := range sorted {
		b.WriteString(l.text + "\n")
	}
	merged := filepath.Join(r.t.TempDir(), "merged.log")
	if err := os.WriteFile(merged, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	out, err := exec.Command(r.bin, "scan", "--config", r.hosts[0].conf, "--json", merged).Output()
	if err != nil {
		r.t.Fatalf("scan: %v", err)
	}
	var offenders []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &offenders); err != nil {
		r.t.Fatalf("scan --json: %v\n%s", err, out)
	}
	set := map[netip.Prefix]bool{}
	for _, o := range offenders {
		a := netip.MustParseAddr(o.Address)
		set[netip.PrefixFrom(a, a.BitLen())] = true
	}
	for p := range manual {
		set[p] = true
	}
	for p := range unbanned {
		delete(set, p)
	}
	var want []netip.Prefix
	for p := range set {
		want = append(want, p)
	}
	sortPrefixes(want)
	return want
}
