package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/statedir"
)

// Issue 11, point 1: Redis frozen (SIGSTOP) and, separately, stopped while
// Ban lines arrive: local offenders still reach the kernel set at once;
// once Redis is back the backlog is pushed. Latencies are from the write
// of an offender's three lines to its address in the set (polled over
// netlink every millisecond, so they include up to ~1 ms of polling).
func TestFleet_redis_frozen_or_stopped_never_delays_local_blocking(t *testing.T) {
	r := newFleetRig(t, 1, "")
	r.startAll()
	a := r.hosts[0]
	const n = 30
	next := 0
	offenders := func(phase string, count int) []netip.Addr {
		t.Helper()
		var lat []time.Duration
		var addrs []netip.Addr
		for range count {
			next++
			x := netip.AddrFrom4([4]byte{100, 64, byte(next / 250), byte(next%250 + 1)})
			now := time.Now()
			written := appendLines(t, a.log, banLine(now.Add(-2*time.Second), "sshd", x), banLine(now.Add(-time.Second), "postfix", x), banLine(now, "sshd", x))
			lat = append(lat, eventually(t, written, 30*time.Second, fmt.Sprintf("%s: offender %s in the set", phase, x), a.d, func() (bool, error) {
				return setHas(a.ns, a.set, x)
			}))
			addrs = append(addrs, x)
		}
		t.Logf("%s: %d offenders line→set p50 %v, p99 %v, max %v (issue: p99 < 10 ms)", phase, count,
			percentile(lat, 50).Round(10*time.Microsecond), percentile(lat, 99).Round(10*time.Microsecond), percentile(lat, 100).Round(10*time.Microsecond))
		return addrs
	}
	inFleet := func(what string, addrs []netip.Addr, since time.Time) time.Duration {
		t.Helper()
		return eventually(t, since, 60*time.Second, what, a.d, func() (bool, error) {
			for _, x := range addrs {
				if rec, ok := r.record(x); !ok || !strings.Contains(rec, `"s":"block"`) {
					return false, nil
				}
			}
			return true, nil
		})
	}

	base := offenders("redis up", n/2)
	inFleet("the offenders in the fleet", base, time.Now())

	r.redis.Freeze()
	frozen := offenders("redis frozen (SIGSTOP)", n)
	t.Logf("redis frozen: backlog %d outbox items not acknowledged", backlog(t, a))
	thaw := time.Now()
	r.redis.Thaw()
	t.Logf("redis thawed (SIGCONT): the frozen phase's %d offenders in the fleet %v later", n, inFleet("the backlog pushed after SIGCONT", frozen, thaw).Round(time.Millisecond))
	eventually(t, time.Now(), 60*time.Second, "the whole outbox pushed", a.d, func() (bool, error) { return pushedAll(a), nil })

	r.redis.Kill()
	stopped := offenders("redis stopped", n)
	t.Logf("redis stopped: backlog %d outbox items not acknowledged", backlog(t, a))
	restart := time.Now()
	r.redis.Restart() // empty: no persistence
	all := append(append(base, frozen...), stopped...)
	t.Logf("redis restarted empty: all %d offenders in the fleet again %v later (rewind + mirror re-push)", len(all), inFleet("everything pushed again after the restart", all, restart).Round(time.Millisecond))
	if !strings.Contains(a.d.out.String(), "lost writes of this host") {
		t.Errorf("the writer did not notice that Redis lost its writes:\n%s", a.d.out)
	}
	a.d.alive(t)
}

// backlog is how many outbox items h's writer has not pushed.
func backlog(t *testing.T, h *fleetHost) int {
	t.Helper()
	ob, err := os.ReadFile(statedir.FleetOutbox(h.state))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(ob)), "\n")
	last, _ := strconv.Atoi(strings.Fields(lines[len(lines)-1])[1])
	b, _ := os.ReadFile(statedir.FleetPushed(h.state))
	pushed, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return last - pushed
}
