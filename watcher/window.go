package watcher

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/recidivist/recidivist/internal/addr"
)

// Offender is an address that reached the threshold, or (from Candidates) one
// that has bans in the window.
type Offender struct {
	Addr        netip.Addr
	Bans        int       // countable bans remembered for it (all bans observed since it was first tracked and not expired)
	Jails       []string  // sorted, distinct
	First, Last time.Time // first and last ban, in UTC, to the microsecond
}

// sweepEvery is the least number of newly tracked addresses between two
// internal sweeps; see Tracker.
const sweepEvery = 4096

// sweepSlack is how far out of order a ban may arrive and still never have
// lost an address to an internal sweep.
const sweepSlack = 5 * time.Minute

// Tracker counts countable bans per address over a sliding window and says
// when an address becomes an offender: threshold bans whose newest minus
// oldest is at most window, measured on Ban.Time (the time written in the
// line, an absolute instant) and not on the time the ban was observed.
//
// Per address it remembers only what the decision and Offender need: the
// newest threshold-1 ban times, the ban count, the first ban time and the set
// of jails, in a fixed-size record (see addrTable). Times are kept to the
// microsecond; finer differences are truncated.
//
// Bans may arrive slightly out of order (two logs, a line a second earlier
// than the one before): they are put in order among the remembered times.
// A ban older than every remembered time is checked against them and then
// forgotten, so disorder deeper than threshold-1 bans may miss a group.
//
// Memory stays bounded during a long scan without any call to Expire: after
// as many newly tracked addresses as the last sweep kept (at least 4096),
// the Tracker drops the addresses whose newest ban is more than window+5m
// older than the newest ban it has seen (or than the floor set by SetFloor,
// when that is older), so a ban up to 5 minutes out of order decides as if
// there were no sweeps. Feed logs oldest first: a ban that arrives later
// than that may find its address already swept.
//
// Nothing here reads a clock: every cut is made relative to ban times, so
// a decision depends on the ban lines alone, never on when they are read.
// Expire(asOf) sets a horizon, asOf-window: bans older than it that are
// observed afterwards are ignored, since they can no longer fall within
// window of a ban still to come. The horizon is persisted with the history.
//
// A Tracker is safe for concurrent use: the daemon observes from the follower
// while status and metrics read Len and Candidates.
type Tracker struct {
	mu        sync.Mutex // guards every field below
	threshold int
	window    int64 // microseconds
	v4        addrTable[[4]byte]
	v6        addrTable[[16]byte]
	jails     jailNames
	forgiven  forgiveness
	// horizon is asOf-window of the latest Expire: bans older than it are
	// ignored, which is what lets Expire drop forgiveness records safely.
	horizon int64
	newest  int64  // newest ban time observed; drives the internal sweeps
	floor   int64  // no ban still to come is older than it (SetFloor); bounds the internal sweeps
	added   int    // addresses newly tracked since the last sweep
	sweepAt int    // added that triggers the next sweep: max(sweepEvery, Len after the last)
	ops     *opLog // records Observe, Forgive, Expire and SetFloor when journaling (see opLog); nil otherwise
}

// NewTracker returns an empty Tracker for threshold bans within window.
// It panics if threshold < 1 or window < 0: configuration is validated before.
func NewTracker(threshold int, window time.Duration) *Tracker {
	checkPolicy(threshold, window)
	k := rememberedTimes(threshold)
	return &Tracker{
		threshold: threshold,
		window:    window.Microseconds(),
		v4:        newAddrTable[[4]byte](k),
		v6:        newAddrTable[[16]byte](k),
		jails:     newJailNames(),
		forgiven:  newForgiveness(),
		horizon:   math.MinInt64,
		newest:    math.MinInt64,
		floor:     math.MaxInt64,
		sweepAt:   sweepEvery,
	}
}

func checkPolicy(threshold int, window time.Duration) {
	if threshold < 1 || window < 0 {
		panic(fmt.Sprintf("watcher: invalid tracker policy: threshold %d, window %v", threshold, window))
	}
}

// rememberedTimes is how many ban times a record holds: threshold-1 decide,
// and at least one so that Offender.Last survives a switch to threshold 1.
func rememberedTimes(threshold int) int {
	return max(threshold-1, 1)
}

// Observe counts b and reports whether it makes b.Addr an offender. The
// offender is then dropped from the Tracker (it is blocked from now on);
// later bans of it start afresh. Bans of forgiven addresses up to their
// forgiveness time, bans older than the horizon set by Expire and invalid
// addresses are ignored.
func (t *Tracker) Observe(b Ban) (Offender, bool) {
	addr := b.Addr.Unmap()
	if !addr.IsValid() {
		return Offender{}, false
	}
	at := b.Time.UnixMicro()
	t.mu.Lock()
	defer t.mu.Unlock()
	if at < t.horizon || t.forgiven.covers(addr, at) {
		return Offender{}, false
	}
	t.ops.observe(addr, at, b.Jail)
	t.newest = max(t.newest, at)
	jail := t.jails.id(b.Jail)
	if addr.Is4() {
		return observe(t, &t.v4, addr.As4(), addr, jail, at)
	}
	return observe(t, &t.v6, addr.As16(), addr, jail, at)
}

func observe[K comparable](t *Tracker, a *addrTable[K], key K, addr netip.Addr, jail uint32, at int64) (Offender, bool) {
	e, ok := a.find(key)
	if !ok {
		if t.threshold == 1 {
			return Offender{Addr: addr, Bans: 1, Jails: []string{t.jails.names[jail]}, First: utc(at), Last: utc(at)}, true
		}
		e = a.add(key)
		rec := a.record(e)
		rec[wordHead] = 1 << 32
		rec[wordFirst] = at
		for i := wordTimes; i < len(rec)-1; i++ {
			rec[i] = noTime
		}
		rec[len(rec)-1] = at
		a.addJail(e, jail)
		t.added++
		t.maybeSweep()
		return Offender{}, false
	}
	rec := a.record(e)
	if rec[wordHead]>>32 < math.MaxInt32 { // saturate: the count must stay positive
		rec[wordHead] += 1 << 32
	}
	rec[wordFirst] = min(rec[wordFirst], at)
	a.addJail(e, jail)
	times := rec[wordTimes:]
	if t.threshold == 1 || isOffence(times, at, t.window) {
		times[len(times)-1] = max(times[len(times)-1], at)
		o := t.offender(addr, rec, a.extraJails[e])
		a.remove(e)
		return o, true
	}
	remember(times, at)
	return Offender{}, false
}

// isOffence reports whether the remembered times, all of them present, and
// the new ban at fall within window together.
func isOffence(times []int64, at, window int64) bool {
	if times[0] == noTime {
		return false
	}
	return max(times[len(times)-1], at)-min(times[0], at) <= window
}

// remember keeps the newest len(times) of times and at, in ascending order.
func remember(times []int64, at int64) {
	if at <= times[0] {
		return // older than every remembered time: it can no longer decide anything
	}
	i := 0
	for i+1 < len(times) && times[i+1] < at {
		times[i] = times[i+1]
		i++
	}
	times[i] = at
}

func (t *Tracker) offender(addr netip.Addr, rec []int64, extra []uint32) Offender {
	return Offender{
		Addr:  addr,
		Bans:  int(rec[wordHead] >> 32),
		Jails: t.jails.sorted(uint32(rec[wordHead]), extra),
		First: utc(rec[wordFirst]),
		Last:  utc(rec[len(rec)-1]),
	}
}

func utc(micros int64) time.Time {
	return time.UnixMicro(micros).UTC()
}

// maybeSweep drops the addresses that left the window of the newest ban seen
// once as many addresses were added since the last sweep as it kept (at
// least sweepEvery): the amortised cost stays O(1) per ban and Len stays
// below twice the addresses in the window plus sweepEvery.
func (t *Tracker) maybeSweep() {
	if t.added < t.sweepAt {
		return
	}
	t.dropOlder(min(t.newest-sweepSlack.Microseconds(), t.floor) - t.window)
	t.added = 0
	t.sweepAt = max(sweepEvery, t.v4.live+t.v6.live)
}

// Forgive drops every tracked address in p; bans of addresses in p with Time
// at or before at are never counted again (the record is persisted by
// WriteTo), later ones count afresh.
func (t *Tracker) Forgive(p netip.Prefix, at time.Time) {
	p = addr.Canonical(p)
	if !p.IsValid() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops.forgive(p, at.UnixMicro())
	t.forgiven.add(p, at.UnixMicro())
	if p.Addr().Is4() {
		forgive(&t.v4, p, p.Addr().As4(), netip.AddrFrom4)
	} else {
		forgive(&t.v6, p, p.Addr().As16(), netip.AddrFrom16)
	}
}

// forgive drops the addresses of a in p; key is p's address as a key of a.
func forgive[K comparable](a *addrTable[K], p netip.Prefix, key K, addrOf func(K) netip.Addr) {
	if p.IsSingleIP() {
		if e, ok := a.find(key); ok {
			a.remove(e)
		}
		return
	}
	for e := range a.entries() {
		if p.Contains(addrOf(a.key(e))) {
			a.remove(e)
		}
	}
	a.compact()
}

// Forgiven reports whether a Forgive made after o was found covers it: o's
// address lies in a forgiven prefix and its deciding ban is at or before
// the forgiveness time. Whoever blocks offenders asks, in the same
// transaction as its unblocks, so an unban wins over an offender decided
// just before it.
func (t *Tracker) Forgiven(o Offender) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.forgiven.covers(o.Addr.Unmap(), o.Last.UnixMicro())
}

// Candidates returns the tracked addresses, most bans first, then most
// recent last ban, then by address.
func (t *Tracker) Candidates() []Offender {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Offender, 0, t.v4.live+t.v6.live)
	out = candidates(t, &t.v4, netip.AddrFrom4, out)
	out = candidates(t, &t.v6, netip.AddrFrom16, out)
	slices.SortFunc(out, func(a, b Offender) int {
		if c := cmp.Compare(b.Bans, a.Bans); c != 0 {
			return c
		}
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

func candidates[K comparable](t *Tracker, a *addrTable[K], addrOf func(K) netip.Addr, out []Offender) []Offender {
	for e := range a.entries() {
		out = append(out, t.offender(addrOf(a.key(e)), a.record(e), a.extraJails[e]))
	}
	return out
}

// Len returns the number of tracked addresses.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.v4.live + t.v6.live
}

// Expire drops the addresses whose newest ban is older than asOf-window and
// returns how many it dropped. asOf is a ban time, never the wall clock:
// the caller promises that no ban still to come is older than asOf (the
// newest ban time read from every log, less the disorder a log may have),
// so a dropped address could not have become an offender any more. It also
// moves the horizon to asOf-window: bans older than that observed later are
// ignored, so forgiveness records older than the horizon can no longer
// matter and are dropped too. The horizon is persisted, so a forgiven
// address's old lines re-read after a restart still do not count.
func (t *Tracker) Expire(asOf time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops.expire(asOf.UnixMicro())
	cutoff := asOf.UnixMicro() - t.window
	if cutoff > t.horizon {
		t.horizon = cutoff
		t.forgiven.expire(cutoff)
	}
	return t.dropOlder(cutoff)
}

// SetFloor promises that no ban still to come is older than at (a ban
// time), as Expire does, for the internal sweeps: they never drop an
// address a ban at or after at could still make an offender. Until it is
// called the sweeps trust the newest ban seen (one log read in order, as
// scan does); a caller reading several logs at once sets the floor from
// the log that is furthest behind.
func (t *Tracker) SetFloor(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := at.UnixMicro(); f != t.floor {
		t.ops.setFloor(f)
		t.floor = f
	}
}

// dropOlder drops the addresses whose newest ban is older than cutoff.
func (t *Tracker) dropOlder(cutoff int64) int {
	return dropOlder(&t.v4, cutoff) + dropOlder(&t.v6, cutoff)
}

func dropOlder[K comparable](a *addrTable[K], cutoff int64) int {
	n := 0
	for e := range a.entries() {
		if rec := a.record(e); rec[len(rec)-1] < cutoff {
			a.remove(e)
			n++
		}
	}
	a.compact()
	return n
}

// SetPolicy changes threshold and window (SIGHUP reload), keeping every
// tracked address with its count, jails and as many of its newest ban times
// as the new threshold needs. An address that already meets a lowered
// threshold becomes an offender with its next ban. It panics on the
// conditions NewTracker does.
func (t *Tracker) SetPolicy(threshold int, window time.Duration) {
	checkPolicy(threshold, window)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.threshold = threshold
	t.window = window.Microseconds()
	k := rememberedTimes(threshold)
	t.v4 = t.v4.rebuilt(k)
	t.v6 = t.v6.rebuilt(k)
}

// jailNames interns jail names: records hold small ids, the first 32 of them
// as bits of the record's head word.
type jailNames struct {
	ids   map[string]uint32
	names []string
	order []uint32 // the ids below 32, by name
}

func newJailNames() jailNames {
	return jailNames{ids: make(map[string]uint32)}
}

func (j *jailNames) id(name string) uint32 {
	if id, ok := j.ids[name]; ok {
		return id
	}
	id := uint32(len(j.names))
	j.ids[name] = id
	j.names = append(j.names, name)
	if id < 32 {
		j.order = append(j.order, id)
		slices.SortFunc(j.order, func(a, b uint32) int { return cmp.Compare(j.names[a], j.names[b]) })
	}
	return id
}

// sorted returns the names of the jails in set (bit i: id i) and extra, sorted. Every
// offence asks: the ids below 32 are walked in name order, not sorted.
func (j *jailNames) sorted(set uint32, extra []uint32) []string {
	out := make([]string, 0, bits.OnesCount32(set)+len(extra))
	for _, id := range j.order {
		if set&(1<<id) != 0 {
			out = append(out, j.names[id])
		}
	}
	if len(extra) > 0 {
		for _, id := range extra {
			out = append(out, j.names[id])
		}
		slices.Sort(out)
	}
	return out
}

// forgiveness remembers, per forgiven prefix, the time up to which its bans
// never count again.
type forgiveness struct {
	addrs  map[netip.Addr]int64   // single addresses, the common case
	ranges map[netip.Prefix]int64 // wider prefixes, few
}

func newForgiveness() forgiveness {
	return forgiveness{addrs: make(map[netip.Addr]int64), ranges: make(map[netip.Prefix]int64)}
}

func (f *forgiveness) add(p netip.Prefix, at int64) {
	if p.IsSingleIP() {
		if old, ok := f.addrs[p.Addr()]; !ok || at > old {
			f.addrs[p.Addr()] = at
		}
		return
	}
	if old, ok := f.ranges[p]; !ok || at > old {
		f.ranges[p] = at
	}
}

func (f *forgiveness) covers(addr netip.Addr, at int64) bool {
	if len(f.addrs) == 0 && len(f.ranges) == 0 {
		return false // the usual case, and hashing an address is not free
	}
	if until, ok := f.addrs[addr]; ok && at <= until {
		return true
	}
	for p, until := range f.ranges {
		if at <= until && p.Contains(addr) {
			return true
		}
	}
	return false
}

// expire drops the records older than horizon.
func (f *forgiveness) expire(horizon int64) {
	for a, until := range f.addrs {
		if until < horizon {
			delete(f.addrs, a)
		}
	}
	for p, until := range f.ranges {
		if until < horizon {
			delete(f.ranges, p)
		}
	}
}
