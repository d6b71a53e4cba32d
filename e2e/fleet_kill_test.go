package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/redistest"
)

// Issue 11, point 6: three hosts, Ban lines arriving while redis-server is
// SIGKILLed at three random moments and restarted, (a) empty and (b) with
// AOF everysec. End: Redis, every mirror and every kernel set equal the
// oracle (`scan` of the merged logs): 0 missing, 0 extra, and no address
// with fewer than three bans blocked (a ban counted twice would make one).
// It runs 10,000 lines so that CI stays quick; RCV_FLEET_KILL_LINES=50000
// runs the count (~25–35 s per run on the 2-CPU VM).
func TestFleet_redis_killed_mid_stream_loses_nothing(t *testing.T) {
	lines := 10_000
	if s := os.Getenv("RCV_FLEET_KILL_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("RCV_FLEET_KILL_LINES=%q: %v", s, err)
		}
		lines = n
	}
	for _, tc := range []struct {
		name string
		o    redistest.Options
	}{
		{"restarted empty", redistest.Options{}},
		{"restarted with AOF everysec", redistest.Options{AOF: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { killTest(t, lines, tc.o) })
	}
}

var rePushed = regexp.MustCompile(`lost writes of this host.* mirror_records=(\d+)`)

func killTest(t *testing.T, n int, o redistest.Options) {
	r := newFleetRigWith(t, 3, "window = \"1d\"\n", o)
	r.startAll()
	rnd := rand.New(rand.NewPCG(uint64(n), 6))
	pool := n / 2 // two bans per address on average: many with one or two, a third with three or more
	addr := func(i int) netip.Addr {
		i += 256
		return netip.AddrFrom4([4]byte{100, byte(96 + i>>16), byte(i >> 8), byte(i)})
	}
	const chunks = 25
	kills := map[int]bool{}
	for len(kills) < 3 {
		kills[1+rnd.IntN(chunks-2)] = true
	}
	jails := []string{"sshd", "postfix", "dovecot"}
	base := time.Now().Add(-time.Duration(n) * 700 * time.Millisecond)
	var all []logLine
	manual := map[netip.Prefix]bool{}
	for i := range r.hosts {
		manual[netip.MustParsePrefix(fmt.Sprintf("198.18.0.%d/32", i+1))] = true
	}
	start := time.Now()
	var killed []time.Duration
	for c := range chunks {
		per := make([][]string, len(r.hosts))
		for k := c * n / chunks; k < (c+1)*n/chunks; k++ {
			at := base.Add(time.Duration(k) * 700 * time.Millisecond)
			h := rnd.IntN(len(r.hosts))
			l := banLine(at, jails[rnd.IntN(len(jails))], addr(rnd.IntN(pool)))
			per[h] = append(per[h], l)
			all = append(all, logLine{at, l})
		}
		for i, h := range r.hosts {
			if len(per[i]) > 0 {
				appendLines(t, h.log, per[i]...)
			}
		}
		if kills[c] {
			killed = append(killed, time.Since(start).Round(time.Millisecond))
			r.redis.Restart() // SIGKILL, then the same arguments
		}
		time.Sleep(200 * time.Millisecond) // the kills fall while the writers push
	}
	written := time.Now()
	want := r.oracle(all, manual, nil)
	var redisBlocks []netip.Prefix
	conv := eventually(t, written, 150*time.Second, "Redis and every host equal the oracle", r.hosts[0].d, func() (bool, error) {
		redisBlocks = r.redisBlocks()
		if !slices.Equal(redisBlocks, want) {
			return false, nil
		}
		for _, h := range r.hosts {
			m, s := r.blocked(h)
			if !slices.Equal(m, want) || !slices.Equal(s, want) {
				return false, nil
			}
		}
		return true, nil
	})
	rewinds, repushed := 0, 0
	for _, h := range r.hosts {
		out := h.d.out.String()
		rewinds += strings.Count(out, "lost writes of this host")
		for _, m := range rePushed.FindAllStringSubmatch(out, -1) {
			k, _ := strconv.Atoi(m[1])
			repushed += k
		}
	}
	t.Logf("%d lines on 3 hosts (written in %v), redis SIGKILLed and restarted at %v; %d rewinds, %d mirror records re-pushed; Redis, 3 mirrors and 3 sets = oracle (%d blocked): 0 missing, 0 extra; converged %v after the last line",
		n, written.Sub(start).Round(time.Millisecond), killed, rewinds, repushed, len(want), conv.Round(time.Millisecond))
}

// redisBlocks is the fleet's block records, sorted.
func (r *fleetRig) redisBlocks() []netip.Prefix {
	r.t.Helper()
	v, err := r.redis.Do("HGETALL", "rcv:{"+fleetName+"}:bl")
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	add := func(k, v string) {
		if strings.Contains(v, `"s":"block"`) {
			if p, err := netip.ParsePrefix(k); err == nil {
				out = append(out, p)
			} else if a, err := netip.ParseAddr(k); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	switch m := v.(type) {
	case map[any]any:
		for k, v := range m {
			add(fmt.Sprint(k), fmt.Sprint(v))
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			add(fmt.Sprint(m[i]), fmt.Sprint(m[i+1]))
		}
	}
	sortPrefixes(out)
	return out
}
