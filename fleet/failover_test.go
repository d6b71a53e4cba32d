package fleet_test

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// countingFleet counts the events a writer pushed, replays included.
type countingFleet struct {
	fleet.Fleet
	events atomic.Int64
}

func (c *countingFleet) PushEvent(ctx context.Context, e fleet.Event, prev uint64) (fleet.Result, error) {
	r, err := c.Fleet.PushEvent(ctx, e, prev)
	if err == nil {
		c.events.Add(1)
	}
	return r, err
}

// TestHostsFollowASentinelFailoverAndRepairWritesTheReplicaNeverGot runs
// three hosts on a primary, a replica and three sentinels, through the
// redis-sentinel:// URL. Mid-stream the replica is frozen and its link cut
// (so it misses the writes that follow, as asynchronous replication can
// lose acknowledged writes), the primary is
// SIGKILLed and the replica thawed: the sentinels promote it, the hosts
// follow it, every writer's probe finds its lost writes and re-pushes, and
// Redis and every host end equal to the oracle.
//
// It runs once with no ACL, and once with the fleet's ACL user on both
// servers and a user of that name on the sentinels (which the hosts ask
// with the same credentials), as the README tells admins to set it up.
func TestHostsFollowASentinelFailoverAndRepairWritesTheReplicaNeverGot(t *testing.T) {
	t.Run("no_acl", func(t *testing.T) { failoverTest(t, false) })
	t.Run("acl_user", func(t *testing.T) { failoverTest(t, true) })
}

func failoverTest(t *testing.T, acl bool) {
	primary := redistest.Start(t, redistest.Options{TCP: true})
	replica := redistest.Start(t, redistest.Options{TCP: true, ReplicaOf: primary})
	o := fleet.Options{Name: "fo"}
	var so redistest.SentinelOptions
	if acl {
		line := strings.Fields(fleet.ACL("fo", "rcv-fo", "s3cret-fo"))
		for _, s := range []*redistest.Server{primary, replica} {
			if _, err := s.Do(toArgs(line)...); err != nil {
				t.Fatal(err)
			}
		}
		so.Users = []string{fleet.SentinelACL("rcv-fo", "s3cret-fo")}
		o.User, o.PasswordFile = "rcv-fo", filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(o.PasswordFile, []byte("s3cret-fo\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const master = "rcvfo"
	so.Master = master
	var sentinels []*redistest.Sentinel
	var addrs []string
	for range 3 {
		s := redistest.StartSentinel(t, primary, so)
		sentinels, addrs = append(sentinels, s), append(addrs, s.Addr)
	}
	for _, s := range sentinels {
		s.WaitReady(master, 1, 2)
	}
	o.URL = "redis-sentinel://" + strings.Join(addrs, ",") + "/" + master

	const perHost, addrCount = 3000, 1200
	rule := fleet.Rule{Threshold: 3, Window: time.Hour}
	var hosts []*host
	var counters []*countingFleet
	for _, n := range []string{"a", "b", "c"} {
		o.Host = n
		f, err := fleet.Dial(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cf := &countingFleet{Fleet: f}
		h := newHost(cf, n, rule.Window)
		h.w.Rule = &rule
		hosts, counters = append(hosts, h), append(counters, cf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, h := range hosts {
		h.run(ctx, &wg)
	}

	rng := rand.New(rand.NewPCG(7, 11))
	count := map[netip.Addr]int{}
	base := time.Now().Add(-10 * time.Minute)
	var killedAt time.Time
	var lostWindow int
	start := time.Now()
	for i := range perHost {
		if i == perHost/3 {
			killedAt, lostWindow = failOver(t, primary, replica, hosts)
		}
		for _, h := range hosts {
			a := netip.AddrFrom4([4]byte{198, 19, byte(rng.IntN(addrCount) / 256), byte(rng.IntN(addrCount) % 256)})
			if count[a] >= 6 {
				continue
			}
			count[a]++
			h.out.add(fleet.Item{Event: &fleet.Event{Addr: a, Time: base.Add(time.Duration(i) * time.Millisecond), Jail: "sshd"}})
		}
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}

	// the sentinels' choice, timed from the kill
	var switched time.Duration
	deadline := time.Now().Add(120 * time.Second)
	for {
		got, err := sentinels[0].Master(master)
		if err == nil && got == replica.Addr {
			switched = time.Since(killedAt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120s the sentinels still name %q (err %v) as primary, want the replica %s\n%s", got, err, replica.Addr, sentinels[0].Log())
		}
		time.Sleep(50 * time.Millisecond)
	}

	want := offenders(count, rule.Threshold)
	check := replica.Client()
	defer check.Close()
	oracle := fleet.NewRedis(check, "fo", "check")
	converge := time.Now()
	deadline = time.Now().Add(120 * time.Second)
	for {
		state := unequal(oracle, hosts, want)
		if state == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120s: every host and the new primary equal the oracle: %s", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rewinds, repushed, snaps, pushed := 0, 0, 0, int64(0)
	for i, h := range hosts {
		ws, rs := h.w.Status(), h.r.Status()
		if ws.Rewinds == 0 {
			t.Errorf("host %s wrote %d items the replica never got, yet its writer never rewound: %+v", h.name, lostWindow, ws)
		}
		rewinds, repushed, snaps = rewinds+ws.Rewinds, repushed+ws.RePushed, snaps+rs.Snapshots
		pushed += counters[i].events.Load()
	}
	queued := 0
	for _, n := range count {
		queued += n
	}
	t.Logf("failover (acl %v): %d bans from 3 hosts, %d offenders, 0 missing, 0 extra on the new primary and every host; "+
		"sentinels switched %v after the SIGKILL; %d outbox items pushed only to the old primary while the replica lagged; "+
		"rewinds %d, events re-pushed %d, mirror records re-pushed %d, reader snapshots %d; converged %v after the switch was seen (%v in all)",
		acl, queued, len(want), switched.Round(time.Millisecond), lostWindow, rewinds, pushed-int64(queued), repushed, snaps,
		time.Since(converge).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// failOver freezes the replica and cuts its link on the primary (a frozen
// replica alone still gets everything the kernel buffered for it), waits
// until every writer pushed more to the primary (writes the replica will
// never see), SIGKILLs the primary and thaws the replica. It returns when
// the primary died and how many outbox items the writers pushed meanwhile.
func failOver(t *testing.T, primary, replica *redistest.Server, hosts []*host) (time.Time, int) {
	t.Helper()
	replica.Freeze()
	if _, err := primary.Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		replica.Thaw()
		t.Fatalf("cutting the replica's link: %v", err)
	}
	before := make([]uint64, len(hosts))
	for i, h := range hosts {
		before[i] = h.w.Status().Pushed
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := true
		for i, h := range hosts {
			if h.w.Status().Pushed <= before[i] {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			replica.Thaw()
			t.Fatalf("after 60s the writers pushed nothing more to the primary")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lost := 0
	for i, h := range hosts {
		lost += int(h.w.Status().Pushed - before[i])
	}
	primary.Kill()
	at := time.Now()
	replica.Thaw()
	return at, lost
}
