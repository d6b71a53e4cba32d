package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

// debounce is how long the reconcile waits after a change of the mirror for
// more changes (an editor's write is several events) before acting.
const debounce = 30 * time.Millisecond

// reconcileLoop makes the kernel equal the mirror whenever the mirror file
// changes and every reconcile interval. It watches the state directory, not
// the file, so editors' rename-writes are seen.
func (d *Daemon) reconcileLoop(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the mirror: %w", err)
	}
	defer fw.Close()
	d.mu.Lock()
	dir, interval := d.cfg.StateDir, d.cfg.ReconcileInterval
	d.mu.Unlock()
	if err := fw.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	mirrorName := statedir.MirrorFile

	every := d.newTicker(interval)
	defer every.Stop()
	header := d.newTicker(headerEvery)
	defer header.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	// kernel waits kernelSettle after the first deletion the watch saw;
	// later ones until then are repaired with it.
	kernel := time.NewTimer(time.Hour)
	kernel.Stop()
	defer kernel.Stop()
	kernelArmed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("mirror watch closed")
			}
			if filepath.Base(ev.Name) == mirrorName {
				settle.Reset(debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("mirror watch closed")
			}
			d.log.Warn("watching the mirror", "err", err) // an overflow is healed by the next tick
		case <-settle.C:
			d.reconcileChanged()
		case <-every.C():
			if skip, cause := d.quickCheck(); !skip {
				d.reconcileFor("interval", cause)
			}
		case <-header.C():
			d.headerCheck()
		case <-d.kernelChanged:
			if !kernelArmed {
				kernel.Reset(kernelSettle)
				kernelArmed = true
			}
		case <-kernel.C:
			kernelArmed = false
			d.repairPending()
		case <-d.intervalChanged:
			d.mu.Lock()
			next := d.cfg.ReconcileInterval
			d.mu.Unlock()
			if next != interval {
				every.Reset(next)
				d.log.Info("reconcile interval changed", "from", interval, "to", next)
				interval = next
			}
		}
	}
}

// Reconcile makes the kernel equal the mirror now. It is safe to call from
// any goroutine.
func (d *Daemon) Reconcile() { d.reconcile("requested") }

// reconcileChanged reconciles after a change of the mirror, unless the file
// is a version the daemon already acted on: its own write (the kernel had
// those entries before the mirror did) or one a reconcile has read since.
// With a million entries a reconcile costs seconds of CPU.
func (d *Daemon) reconcileChanged() {
	d.mu.Lock()
	own := d.mirror.Unchanged() && !d.stale
	d.mu.Unlock()
	if own {
		return
	}
	d.reconcile("mirror changed")
}

// fullEvery bounds the quick checks in a row: every fullEvery-th interval
// reconcile compares every entry, which also catches what keeps the counts
// (an entry deleted and another added by hand).
const fullEvery = 10

// lastFull is what the last full reconcile left in the kernel, kept up to
// date by onOffenders, so that an interval reconcile can see from the sets'
// headers and the rules alone that nothing changed: listing a million
// entries and reading a million-line mirror costs seconds of CPU.
type lastFull struct {
	valid   bool
	status  ipsetstore.Status // sets (with entry counts) and rules as they should be now
	expires time.Time         // the earliest expiry among the blocks; zero: none
	skipped int               // quick checks since the last full reconcile
}

// quickCheck reports whether an interval reconcile has nothing to do: the
// mirror is the version last reconciled, no block has expired since, and
// the sets' entry counts and the rules are what the last full reconcile and
// the offenders added since leave. Callers then skip the full reconcile.
// A flushed or destroyed set, a removed or buried rule, an entry added or
// deleted by hand all show in the status. Otherwise cause is what the
// reconcile repairs: "" when it is no repair (the mirror changed, a block
// expired, no full reconcile succeeded yet). On nftables, where counting
// the entries lists them all, the check is the layout's while the event
// watch runs: it sees entries deleted by others.
func (d *Daemon) quickCheck() (skip bool, cause string) {
	d.mu.Lock()
	q := &d.full
	if !q.valid || !q.expires.IsZero() && !d.now().Before(q.expires) || !d.mirror.Unchanged() || d.stale {
		d.mu.Unlock()
		return false, ""
	}
	if q.skipped+1 >= fullEvery {
		d.mu.Unlock()
		return false, CauseDrift // what the full comparison finds different drifted
	}
	if ls, ok := d.store.(layouter); ok && d.watching {
		d.mu.Unlock()
		if cause, _ := d.driftLayout(ls); cause != "" {
			return false, cause
		}
		d.mu.Lock()
		d.full.skipped++
		d.mu.Unlock()
		return true, ""
	}
	defer d.mu.Unlock()
	st, err := d.store.Status()
	if err != nil {
		return false, ""
	}
	if !slices.Equal(st.Sets, q.status.Sets) || !slices.Equal(st.Rules, q.status.Rules) {
		if cause, _ = diagnose(st, &q.status, false); cause == "" {
			cause = CauseDrift
		}
		return false, cause
	}
	q.skipped++
	d.metrics.observeStatus(st)
	return true, ""
}

// counted adds the blocks onOffenders put in force to what the next quick
// check expects, or makes it fall back to a full reconcile when the kernel
// refused one. Callers hold d.mu.
func (d *Daemon) counted(e blocklist.Entry, kerr error) {
	q := &d.full
	if kerr != nil {
		q.valid = false
		return
	}
	fam := ipsetstore.FamilyOf(e.Prefix)
	for i := range q.status.Sets {
		if q.status.Sets[i].Family == fam {
			q.status.Sets[i].Entries++
		}
	}
	q.expires = sooner(q.expires, e.Expires)
}

// optimistic is how many times a reconcile reads without the mirror's
// writer lock before it holds that lock for the whole of its work: each try
// that finds the mirror changed by someone else meanwhile starts again.
const optimistic = 3

// reconcile makes the kernel equal the mirror. The slow part (reading the
// mirror, listing the sets: seconds at a million entries) runs without
// d.mu, so offenders go on reaching the kernel; the difference is applied
// in one transaction (the mirror's writer lock, then d.mu) that first
// checks that nobody else changed the mirror since it was read (else it
// reads again) and accounts for what the daemon's own transactions changed
// meanwhile.
func (d *Daemon) reconcile(why string) { d.reconcileFor(why, "") }

// reconcileFor is reconcile repairing cause: what it changes is counted
// and logged as a repair of cause ("": no repair, e.g. a hand edit of the
// mirror applied).
func (d *Daemon) reconcileFor(why, cause string) {
	d.reconciling.Lock()
	defer d.reconciling.Unlock()
	for try := 1; !d.reconcileOnce(why, cause, try >= optimistic); try++ {
		if try > optimistic {
			// Only a person's edit in place (which takes no lock) changes
			// it under the writer lock; its event sets off the next one.
			d.log.Warn("reconcile: the mirror keeps changing; trying again at its next change", "why", why)
			return
		}
	}
}

// reconcileOnce is one try of reconcile; locked holds the mirror's writer
// lock while it reads too (offenders still reach the kernel meanwhile;
// their mirror write waits). It reports false when the mirror changed
// under it.
func (d *Daemon) reconcileOnce(why, cause string, locked bool) bool {
	d.mu.Lock()
	d.full.valid = false // until this one succeeds
	d.stale = false
	elsewhere := d.elsewhere
	d.since = make(map[netip.Prefix]change)
	store, mirror := d.store, d.mirror
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.since = nil
		d.mu.Unlock()
	}()
	var (
		entries []blocklist.Entry
		have    []ipsetstore.Entry
		now     time.Time
		read    = true
		fresh   = true
	)
	readAll := func(tx *blocklist.Tx) {
		entries, have, now, read = d.reconcileRead(mirror, store, tx)
	}
	apply := func(tx *blocklist.Tx) error {
		if tx == nil || !read {
			return nil
		}
		// Under the writer lock nothing but a person's edit changes the
		// mirror, and nothing changes since, elsewhere or the seen set: the
		// recorder and expiry work only under it. So the work that costs
		// time with a big mirror (the seen set, the difference) needs no
		// d.mu, and offenders keep reaching the kernel meanwhile.
		d.mu.Lock()
		if mirror != d.mirror || !tx.Unchanged() || d.elsewhere != elsewhere {
			d.mu.Unlock()
			fresh = false // someone changed the mirror since it was read
			return nil
		}
		since := maps.Clone(d.since)
		var unrec []blocklist.Entry
		for _, u := range d.unrecorded {
			unrec = append(unrec, u.entry)
		}
		d.mu.Unlock()
		d.reconcileApply(why, cause, store, withChanges(entries, since), unrec, have, now)
		return nil
	}
	var err error
	if locked {
		err = mirror.Exclusive(func(tx *blocklist.Tx) error {
			readAll(tx)
			return apply(tx)
		})
	} else {
		readAll(nil)
		if read {
			err = mirror.Exclusive(apply)
		}
	}
	if err != nil {
		d.log.Error("reconcile: locking the mirror", "err", err)
		return true
	}
	if !read && !locked {
		return false // the sets could not be listed: repair under the lock
	}
	return fresh
}

// reconcileRead reads the mirror (expiring what is due, under the writer
// lock: tx when the caller holds it) and lists the sets. read is false
// when the mirror cannot be read (logged) or the sets cannot be listed
// (then have is nil and apply ensures and lists again).
func (d *Daemon) reconcileRead(mirror *blocklist.File, store ipsetstore.Store, tx *blocklist.Tx) (entries []blocklist.Entry, have []ipsetstore.Entry, now time.Time, read bool) {
	entries, err := d.loadMirrorOf(mirror)
	if err != nil {
		d.log.Error("reconcile: reading the mirror", "err", err)
		return nil, nil, now, false
	}
	now = d.now()
	if !d.dryRun && slices.ContainsFunc(entries, func(e blocklist.Entry) bool { return e.Expired(now) }) {
		if tx != nil {
			d.expire(tx, now)
		} else if err := mirror.Exclusive(func(tx *blocklist.Tx) error { d.expire(tx, now); return nil }); err != nil {
			d.log.Error("reconcile: locking the mirror", "err", err)
		}
		if entries, err = d.loadMirrorOf(mirror); err != nil {
			d.log.Error("reconcile: reading the mirror", "err", err)
			return nil, nil, now, false
		}
	}
	if have, err = store.List(); err != nil {
		// Sets missing or broken: apply ensures and lists them again.
		return entries, nil, now, tx != nil
	}
	return entries, have, now, true
}

// reconcileApply forgives what left the mirror and makes the kernel hold
// entries and the unrecorded offenders, from the listing have (nil: list
// again). Callers hold the mirror's writer lock and d.mu.
func (d *Daemon) reconcileApply(why, cause string, store ipsetstore.Store, entries, unrec []blocklist.Entry, have []ipsetstore.Entry, now time.Time) {
	removed, fresh, err := d.seen.diff(entries)
	if err != nil {
		d.log.Error("recording the mirror's entries", "err", err)
	}
	d.metrics.observeMirror(entries)
	var (
		want []ipsetstore.Entry
		plan ipsetstore.Plan
	)
	want = kernelEntries(entries, now)
	for _, u := range unrec { // in the kernel, not in the mirror yet: they stay
		if !slices.ContainsFunc(entries, func(m blocklist.Entry) bool { return m.Prefix == u.Prefix }) {
			want = append(want, KernelEntry(u, now))
		}
	}
	if have != nil {
		if plan, err = ipsetstore.Diff(have, want); err != nil {
			d.log.Error("reconcile: making the kernel equal the mirror", "why", why, "err", err)
			return
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgive(removed, now)
	d.noteCollapses(entries, removed)
	d.shareNoticed(fresh, removed, now)
	d.notifyNoticed(fresh, removed)
	// Offenders put in the kernel since and not recorded yet stay as they
	// are.
	var report ipsetstore.Report
	if have == nil {
		// The sets could not be listed (missing, broken): list and compare
		// under the lock, which only such a repair costs.
		report, err = ipsetstore.Reconcile(store, want)
	} else {
		plan.Keep(func(p netip.Prefix) bool { _, ok := d.unrecorded[p]; return ok })
		report, err = plan.Apply(store)
	}
	if err != nil {
		d.log.Error("reconcile: making the kernel equal the mirror", "why", why, "err", d.explain(err))
		d.metrics.kernelErrors.Inc()
		return
	}
	d.pending.note(d.log, report.Repairs)
	if report.Repairs.Changed() {
		d.ruleRepairs.Add(1)
	}
	if report.Changed() {
		if cause != "" {
			d.repaired(cause, report.String())
		} else {
			d.metrics.repairs.Inc()
			d.log.Info("reconciled the kernel with the mirror", "why", why, "repaired", report.String())
		}
	}
	if st, ok := d.observeSets(); ok && rulesOnTop(st) && holdsCounts(st, want) {
		// Unhealthy already (fail2ban inserted its jump again since the
		// repair), or changed since the listing (a flush): no quick check
		// may take this state for the right one.
		d.full = lastFull{valid: true, status: st, expires: earliestExpiry(entries)}
	}
}

// holdsCounts reports whether the sets of st hold as many entries of each
// family as want: what a reconcile that applied its difference to a
// listing leaves, unless the sets changed after the listing.
func holdsCounts(st ipsetstore.Status, want []ipsetstore.Entry) bool {
	n := map[ipsetstore.Family]int{}
	for _, e := range want {
		n[ipsetstore.FamilyOf(e.Prefix)]++
	}
	return countsAre(st, n)
}

// countsAre reports whether the sets of st hold n entries of each family.
func countsAre(st ipsetstore.Status, n map[ipsetstore.Family]int) bool {
	for _, s := range st.Sets {
		if s.Entries != n[s.Family] {
			return false
		}
	}
	return true
}

// withChanges is the mirror as read, with what transactions added or
// removed since.
func withChanges(entries []blocklist.Entry, since map[netip.Prefix]change) []blocklist.Entry {
	if len(since) == 0 {
		return entries
	}
	out := make([]blocklist.Entry, 0, len(entries)+len(since))
	for _, e := range entries {
		if _, ok := since[e.Prefix]; !ok {
			out = append(out, e)
		}
	}
	for _, c := range since {
		if c.added {
			out = append(out, c.entry)
		}
	}
	return out
}

// rulesOnTop reports whether every existing chain holds the one wanted rule
// at its top, as a repair leaves it; a missing chain is no fault here.
func rulesOnTop(st ipsetstore.Status) bool {
	for _, r := range st.Rules {
		if r.ChainExists && (!r.Present || r.Count != 1) {
			return false
		}
	}
	return true
}

// earliestExpiry returns the first expiry among es; zero if none expires.
func earliestExpiry(es []blocklist.Entry) time.Time {
	var first time.Time
	for _, e := range es {
		first = sooner(first, e.Expires)
	}
	return first
}

// sooner returns the earlier of two expiries, zero meaning never.
func sooner(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// loadMirror reads the mirror, reporting bad lines (they are skipped, every
// good line stays in force). Callers hold d.mu.
func (d *Daemon) loadMirror() ([]blocklist.Entry, error) { return d.loadMirrorOf(d.mirror) }

// loadMirrorOf is loadMirror of m, which callers read from d.mirror under
// d.mu; reading it may then go on without d.mu.
func (d *Daemon) loadMirrorOf(m *blocklist.File) ([]blocklist.Entry, error) {
	entries, bad, err := m.Load()
	if err != nil {
		return nil, err
	}
	for i, le := range bad {
		if i == blocklist.ReportLines {
			d.log.Warn("skipping more bad lines of the mirror; recidivist check lists every one", "more", len(bad)-i)
			break
		}
		d.log.Warn("skipping a bad line of the mirror; fix or delete it", "err", le)
	}
	d.metrics.mirrorBadLines.Set(float64(len(bad)))
	return entries, nil
}

func (d *Daemon) mirrorTime() time.Time {
	fi, err := os.Stat(d.mirror.Path())
	if err != nil {
		return d.now()
	}
	return fi.ModTime()
}

// forgiveRemoved forgives, in the watcher, every prefix that was in the mirror
// last time and is gone now: bans logged up to at never count again.
// Callers hold d.mu.
func (d *Daemon) forgiveRemoved(entries []blocklist.Entry, at time.Time) {
	removed, fresh, err := d.seen.diff(entries)
	if err != nil {
		d.log.Error("recording the mirror's entries", "err", err)
	}
	d.forgive(removed, at)
	d.noteCollapses(entries, removed)
	d.shareNoticed(fresh, removed, at)
	d.notifyNoticed(fresh, removed)
}

// forgive forgives the prefixes the mirror lost. Callers hold d.mu: an
// offender the watcher found before is then dropped (Forgiven) in the same
// order as the unban.
func (d *Daemon) forgive(removed []netip.Prefix, at time.Time) {
	for _, p := range removed {
		d.watcher.Forgive(p, at)
		d.log.Info("unblocked and forgiven", "prefix", p, "bans_before", at.UTC().Format(time.RFC3339))
	}
}

// observeSets reads the status for the metrics and the header check.
// Callers hold d.mu.
func (d *Daemon) observeSets() (ipsetstore.Status, bool) {
	st, err := d.store.Status()
	if err != nil {
		return st, false // the metric keeps its last value; the next reconcile logs kernel errors
	}
	d.metrics.observeStatus(st)
	d.lastSets = st.Sets
	return st, true
}
