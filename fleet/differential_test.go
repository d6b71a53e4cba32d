package fleet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
	"github.com/recidivist/recidivist/watcher"
)

// randomEvents returns n bans from 3 hosts on Zipf-distributed IPv4 and
// IPv6 addresses, in time order, with distinct millisecond times (see
// TestOneRuleTwoPlaces for why).
func randomEvents(n int, seed uint64) []fleet.Event {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(seed+2, seed+3)), 1.1, 2, 20000)
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	jails := []string{"sshd", "postfix", "dovecot", "nginx-http-auth"}
	seq := [3]uint64{}
	out := make([]fleet.Event, 0, n)
	for range n {
		k := zipf.Uint64()
		var a netip.Addr
		if k%3 == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(k), 14: byte(k >> 8)})
		} else {
			a = netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)})
		}
		at = at.Add(time.Duration(1+rng.IntN(60_000)) * time.Millisecond)
		h := rng.IntN(3)
		seq[h]++
		out = append(out, fleet.Event{Addr: a, Time: at, Jail: jails[rng.IntN(len(jails))], Seq: seq[h] + uint64(h)<<40})
	}
	return out
}

type offence struct {
	addr    netip.Addr
	version time.Time
}

// hostOf recovers the host an event was generated for.
func hostOf(e fleet.Event) string { return string(rune('a' + e.Seq>>40)) }

// TestOneRuleTwoPlaces feeds the same bans to the single-host decision
// (watcher.Tracker) and to ban_event on a real redis-server: the same
// addresses become offenders, with the same versions (the deciding ban's
// time). Bans arrive in time order, each delivered twice (a replayed
// outbox); the Tracker sees each once. Ban times are distinct: a ban at
// exactly the millisecond of the block it follows is consumed by the block
// in the fleet and counts afresh in the Tracker (see the report).
// Shuffled arrival is compared between the script and the in-memory fake.
func TestOneRuleTwoPlaces(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	rule := fleet.Rule{Threshold: 3, Window: 7 * 24 * time.Hour}
	events := randomEvents(n, 42)

	tr := watcher.NewTracker(rule.Threshold, rule.Window)
	var want []offence
	for _, e := range events {
		if o, ok := tr.Observe(watcher.Ban{Time: e.Time, Jail: e.Jail, Addr: e.Addr}); ok {
			want = append(want, offence{o.Addr, o.Last})
		}
	}

	srv := redistest.Start(t, redistest.Options{})
	run := func(f func(host string) fleet.Fleet, evs []fleet.Event, twice bool) ([]offence, map[fleet.Outcome]int, time.Duration) {
		hosts := map[string]fleet.Fleet{}
		for _, h := range []string{"a", "b", "c"} {
			hosts[h] = f(h)
		}
		mustInit(t, hosts["a"], rule)
		var got []offence
		counts := map[fleet.Outcome]int{}
		start := time.Now()
		for _, e := range evs {
			for i := range 1 + btoi(twice) {
				r, err := hosts[hostOf(e)].PushEvent(context.Background(), e, 0)
				if err != nil {
					t.Fatal(err)
				}
				counts[r.Outcome]++
				if r.Outcome == fleet.Offender {
					if i == 1 {
						t.Fatalf("a replayed ban made an offender: %+v", e)
					}
					got = append(got, offence{r.Record.Prefix.Addr(), r.Record.Version})
				}
			}
		}
		return got, counts, time.Since(start)
	}
	redisHost := func(name string) fleet.Fleet {
		c := srv.Client()
		t.Cleanup(func() { c.Close() })
		return fleet.NewRedis(c, "d", name)
	}
	got, counts, took := run(redisHost, events, true)
	t.Logf("in order, each twice: %d bans, %d pushes in %v (%.0f/s); tracker %d offences, ban_event %d; outcomes %v",
		n, 2*n, took.Round(time.Millisecond), float64(2*n)/took.Seconds(), len(want), len(got), counts)
	if d := diffOffences(got, want); d != "" {
		t.Fatalf("ban_event and the Tracker disagree: %s", d)
	}

	// shuffled arrival (hosts far behind each other, within the window)
	shuffled := slices.Clone(events)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range shuffled { // local shuffle: each ban moves by at most 64 places
		j := min(len(shuffled)-1, i+rng.IntN(64))
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	mem := fleet.NewMemory()
	memGot, memCounts, _ := run(mem.Host, shuffled, false)
	srv.Restart()
	redisGot, redisCounts, _ := run(redisHost, shuffled, false)
	t.Logf("shuffled: ban_event %d offences %v, fake %d offences %v", len(redisGot), redisCounts, len(memGot), memCounts)
	if d := diffOffences(redisGot, memGot); d != "" {
		t.Fatalf("shuffled: ban_event and the fake disagree: %s", d)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func diffOffences(got, want []offence) string {
	key := func(o offence) string { return o.addr.String() + "@" + o.version.UTC().Format(time.RFC3339Nano) }
	g, w := map[string]bool{}, map[string]bool{}
	for _, o := range got {
		g[key(o)] = true
	}
	for _, o := range want {
		w[key(o)] = true
	}
	var missing, extra []string
	for k := range w {
		if !g[k] {
			missing = append(missing, k)
		}
	}
	for k := range g {
		if !w[k] {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra) == 0 && len(got) == len(want) {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return fmt.Sprintf("%d vs %d; missing %d %.5v; extra %d %.5v", len(got), len(want), len(missing), missing, len(extra), extra)
}
