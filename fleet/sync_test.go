package fleet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// outbox is a host's history in memory, as the daemon keeps it on disk.
type outbox struct {
	mu    sync.Mutex // guards items
	items []fleet.Item
	kick  chan struct{}
}

func newOutbox() *outbox { return &outbox{kick: make(chan struct{}, 1)} }

func (o *outbox) add(it fleet.Item) {
	o.mu.Lock()
	it.Seq = uint64(len(o.items) + 1)
	o.items = append(o.items, it)
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) After(seq uint64, n int) ([]fleet.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if seq >= uint64(len(o.items)) {
		return nil, nil
	}
	return slices.Clone(o.items[seq:min(uint64(len(o.items)), seq+uint64(n))]), nil
}

func (o *outbox) Last() (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return uint64(len(o.items)), nil
}

func (o *outbox) Rewind(window time.Duration, now time.Time) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, it := range o.items {
		if it.Event == nil || !it.Event.Time.Before(now.Add(-window)) {
			return uint64(i), nil
		}
	}
	return uint64(len(o.items)), nil
}

// host is one member: its outbox, its local mirror (merged by
// last-writer-wins, as the daemon's owner does) and its writer and reader.
type host struct {
	name   string
	out    *outbox
	mu     sync.Mutex // guards mirror
	mirror map[netip.Prefix]fleet.Record
	w      *fleet.Writer
	r      *fleet.Reader
}

func newHost(f fleet.Fleet, name string, window time.Duration) *host {
	h := &host{name: name, out: newOutbox(), mirror: map[netip.Prefix]fleet.Record{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.w = &fleet.Writer{Fleet: f, Host: name, Outbox: h.out, Mirror: h.records, Window: window, Kick: h.out.kick, Log: quiet, Idle: 50 * time.Millisecond}
	h.r = &fleet.Reader{Fleet: f, Apply: h.apply, Wait: time.Second, Log: quiet}
	return h
}

func (h *host) run(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() { defer wg.Done(); h.w.Run(ctx) }()
	go func() { defer wg.Done(); h.r.Run(ctx) }()
}

func (h *host) apply(_ context.Context, recs []fleet.Record, _ bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		if cur, ok := h.mirror[r.Prefix]; !ok || r.Wins(cur) {
			h.mirror[r.Prefix] = r
		}
	}
	return nil
}

func (h *host) records() ([]fleet.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []fleet.Record
	for _, r := range h.mirror {
		out = append(out, r)
	}
	return out, nil
}

// blocked is the sorted list of blocked prefixes in a set of records.
func blocked(recs []fleet.Record) []string {
	var out []string
	for _, r := range recs {
		if r.State == fleet.Block {
			out = append(out, fleet.Field(r.Prefix))
		}
	}
	slices.Sort(out)
	return out
}

func (h *host) blocked() []string {
	recs, _ := h.records()
	return blocked(recs)
}

// diff says what got misses and has in excess of want.
func diff(got, want []string) string {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return fmt.Sprintf("%d missing %.10v, %d extra %.10v", len(missing), missing, len(extra), extra)
}

// waitFor polls cond for up to 60s; state, when given, describes the last
// failed check for the failure message.
func waitFor(t *testing.T, what string, cond func() bool, state ...*string) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 60*time.Second {
			if len(state) > 0 {
				what += ": " + *state[0]
			}
			t.Fatalf("after 60s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func TestAWriterKeepsItsBacklogWhileTheMeetingPointIsDownAndPushesItAfter(t *testing.T) {
	mem := fleet.NewMemory()
	mustInit(t, mem.Host("a"), hourRule)
	a, b := newHost(mem.Host("a"), "a", time.Hour), newHost(mem.Host("b"), "b", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	a.run(ctx, &wg)
	b.run(ctx, &wg)
	mem.SetDown(fmt.Errorf("connection refused"))
	now := time.Now()
	for i := range 3 {
		a.out.add(fleet.Item{Event: &fleet.Event{Addr: netip.MustParseAddr("192.0.2.50"), Time: now.Add(time.Duration(i) * time.Second), Jail: "sshd"}})
	}
	waitFor(t, "the writer reports the backlog of 3 while down", func() bool {
		s := a.w.Status()
		return !s.Connected && s.Backlog == 3
	})
	mem.SetDown(nil)
	waitFor(t, "b applies the fleet block of 192.0.2.50", func() bool { return slices.Equal(b.blocked(), []string{"192.0.2.50"}) })
	if s := a.w.Status(); s.Backlog != 0 || s.Pushed != 3 {
		t.Fatalf("writer status after reconnect = %+v, want backlog 0, pushed 3", s)
	}
}

func TestAReaderSnapshotsWhenItsCursorIsGoneAndTailsOtherwise(t *testing.T) {
	mem := fleet.NewMemory()
	a := newHost(mem.Host("a"), "a", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	a.run(ctx, &wg)
	put(t, mem.Host("b"), "192.0.2.60/32", fleet.Block, 0)
	waitFor(t, "the first snapshot or change applied", func() bool { return slices.Equal(a.blocked(), []string{"192.0.2.60"}) })
	snaps := a.r.Status().Snapshots
	put(t, mem.Host("b"), "192.0.2.61/32", fleet.Block, 0)
	waitFor(t, "a tailed change applied", func() bool { return len(a.blocked()) == 2 })
	if s := a.r.Status(); s.Snapshots != snaps {
		t.Fatalf("a change with the cursor in place took a snapshot: %+v", s)
	}
	cancel()
	wg.Wait()
	// while a is away, the stream is trimmed past its cursor
	put(t, mem.Host("b"), "192.0.2.61/32", fleet.Unban, time.Second)
	put(t, mem.Host("b"), "192.0.2.62/32", fleet.Block, 0)
	mem.TrimTo(1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	a.run(ctx2, &wg)
	waitFor(t, "a catches up by snapshot", func() bool { return slices.Equal(a.blocked(), []string{"192.0.2.60", "192.0.2.62"}) })
	if s := a.r.Status(); s.Snapshots != snaps+1 {
		t.Fatalf("after the trim: %d snapshots, want %d", s.Snapshots, snaps+1)
	}
}

// TestRedisKilledMidStreamLosesNothing pushes bans from three hosts while
// redis-server is SIGKILLed and restarted, empty or with AOF; every host's
// writer finds the loss with its probe and replays, every reader snapshots.
func TestRedisKilledMidStreamLosesNothing(t *testing.T) {
	for _, aof := range []bool{false, true} {
		t.Run(fmt.Sprintf("aof_%v", aof), func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AOF: aof})
			const perHost, addrs = 2000, 900
			rule := fleet.Rule{Threshold: 3, Window: time.Hour}
			var hosts []*host
			for _, n := range []string{"a", "b", "c"} {
				c := srv.Client()
				t.Cleanup(func() { c.Close() })
				h := newHost(fleet.NewRedis(c, "k", n), n, rule.Window)
				h.w.Rule = &rule
				hosts = append(hosts, h)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			for _, h := range hosts {
				h.run(ctx, &wg)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			count := map[netip.Addr]int{}
			base := time.Now().Add(-10 * time.Minute)
			kills := map[int]bool{perHost / 4: true, perHost / 2: true, 3 * perHost / 4: true}
			start := time.Now()
			for i := range perHost {
				if kills[i] {
					srv.Restart() // the writers store their rule again when it is gone
				}
				for _, h := range hosts {
					a := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(addrs) / 256), byte(rng.IntN(addrs) % 256)})
					if count[a] >= 6 {
						continue
					}
					count[a]++
					h.out.add(fleet.Item{Event: &fleet.Event{Addr: a, Time: base.Add(time.Duration(i) * time.Millisecond), Jail: "sshd"}})
				}
				if i%200 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			want := offenders(count, rule.Threshold)
			var state string
			converge := waitFor(t, "every host and redis equal the oracle", func() bool {
				state = unequal(hosts[0].w.Fleet, hosts, want)
				return state == ""
			}, &state)
			rewinds, repushed, snaps := 0, 0, 0
			for _, h := range hosts {
				ws, rs := h.w.Status(), h.r.Status()
				rewinds, repushed, snaps = rewinds+ws.Rewinds, repushed+ws.RePushed, snaps+rs.Snapshots
			}
			t.Logf("aof=%v: %d bans from 3 hosts, 3 kills, %d offenders, 0 missing, 0 extra; rewinds %d, mirror records re-pushed %d, snapshots %d; converged %v after the last ban was queued (%v in all)",
				aof, 3*perHost, len(want), rewinds, repushed, snaps, converge.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if !aof && rewinds == 0 {
				t.Fatalf("redis restarted empty 3 times and no writer rewound")
			}
		})
	}
}
