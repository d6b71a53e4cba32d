package daemon

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/watcher"
)

// The Daemon owns what is blocked. Every change it makes to the kernel
// sets and the mirror is a transaction under d.mu; a change of the mirror
// also holds the mirror's writer lock (blocklist.File.Exclusive), taken
// before d.mu, which `ban` and `unban` take around their own mirror and
// kernel changes. So
//
//   - an offender is put in the kernel at once, under d.mu alone: it never
//     waits for a mirror write (fsyncs) or a reconcile's listing of the sets;
//     it is then unrecorded (in the kernel, not yet in the mirror) until the
//     recorder writes it to the mirror, which takes the writer lock and, to
//     end the in-between, d.mu. The reconcile applies its difference under
//     the writer lock and d.mu, and keeps unrecorded entries in force: it
//     never sees an offender half-blocked;
//   - `ban` and `unban` are ordered with every daemon write of the mirror and
//     every reconcile's kernel writes: what the daemon applies after an
//     unban was decided from a mirror without it (see reconcile);
//   - the watcher saves a checkpoint past accepted offenders only after
//     Durable has recorded them, so a crash before then re-reads their lines.
//
// A mutex rather than a goroutine serving a channel: every caller waits
// for its own answer anyway, and a mutex gives that without a request type
// or a shutdown order. Later inputs (fleet records, idle unblock) are more
// transactions of the same kind.

// change is what a transaction did to one prefix while a reconcile worked
// outside d.mu: added (with its entry) or removed.
type change struct {
	added bool
	entry blocklist.Entry
}

// unrecorded is an offender in the kernel (or refused by it: kerr) that
// the mirror does not record yet.
type unrecorded struct {
	entry blocklist.Entry
	o     watcher.Offender
	kerr  error
}

// onOffenders blocks the offenders the watcher found in one batch of log
// lines: it puts them in the kernel at once and hands them to the recorder
// for the mirror. It accepts every batch (the watcher's checkpoint then
// waits for Durable).
func (d *Daemon) onOffenders(batch []watcher.Offender) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	queued := false
	for _, o := range batch {
		if d.watcher.Forgiven(o) {
			continue // unbanned after it was decided
		}
		e := offenderEntry(o, d.cfg.BanTime)
		if e.Expired(now) {
			// Decided while catching up, after its ban-time had run out:
			// live, it would have been blocked and would have expired by
			// now. Not blocking it at all leaves the kernel and the mirror
			// as live would have, without a moment's wrong block.
			d.log.Info("offender not blocked: its ban-time ended before the lines were read", "addr", o.Addr, "last", o.Last, "expired", e.Expires)
			continue
		}
		if err := d.policy.Check(e.Prefix, false); err != nil {
			d.log.Info("offender not blocked", "addr", o.Addr, "reason", err)
			continue
		}
		if d.dryRun { // the mirror is not written either
			d.log.Info("dry run: would block offender", "addr", o.Addr, "bans", o.Bans, "jails", strings.Join(o.Jails, ","), "first", o.First, "last", o.Last)
			continue
		}
		if _, ok := d.unrecorded[e.Prefix]; ok {
			continue // a second offence read before the first was recorded
		}
		kerr := d.store.Add(KernelEntry(e, now))
		if kerr == nil && !o.Last.Before(d.started) {
			d.metrics.latency.Observe(d.now().Sub(o.Last).Seconds())
		}
		d.unrecorded[e.Prefix] = unrecorded{entry: e, o: o, kerr: kerr}
		queued = true
	}
	if queued {
		select {
		case d.recordNow <- struct{}{}:
		default: // the recorder is awake already
		}
	}
	return nil
}

// recordLoop writes the unrecorded offenders to the mirror as they come,
// retrying a failed write with growing delays (meanwhile they stay blocked
// in the kernel, and the watcher saves no checkpoint past them).
func (d *Daemon) recordLoop(ctx context.Context) error {
	const firstRetry, maxRetry = time.Second, 30 * time.Second
	delay := firstRetry
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.recordNow:
		}
		if err := d.Durable(); err != nil {
			d.log.Error("offenders blocked in the kernel but not recorded in the mirror; retrying", "retry_in", delay, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			delay = min(2*delay, maxRetry)
			select {
			case d.recordNow <- struct{}{}:
			default:
			}
			continue
		}
		delay = firstRetry
	}
}

// Durable records every offender accepted so far in the mirror (one write
// for all of them) and returns once they are on disk, or the error that
// kept them from it. The watcher calls it before it saves a checkpoint.
func (d *Daemon) Durable() error {
	d.recording.Lock()
	defer d.recording.Unlock()
	if d.outbox != nil {
		// the bans the watcher told the fleet outbox of, up to its checkpoint
		if err := d.outbox.sync(); err != nil {
			return fmt.Errorf("recording bans to share with the fleet: %w", err)
		}
	}
	d.mu.Lock()
	mirror := d.mirror
	pending := slices.Collect(maps.Values(d.unrecorded))
	d.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	start := time.Now()
	entries := make([]blocklist.Entry, len(pending))
	for i, u := range pending {
		entries[i] = u.entry
	}
	var added []blocklist.Entry
	err := mirror.Exclusive(func(tx *blocklist.Tx) error {
		d.mu.Lock()
		d.noteElsewhere(tx)
		d.mu.Unlock()
		var err error
		added, err = tx.Add(entries...)
		if err != nil {
			return err
		}
		d.stepDone("mirror")
		d.mu.Lock()
		d.recorded(pending, added, time.Since(start))
		d.mu.Unlock()
		// What it notifies is durable before the seen set says the daemon
		// knows of the new entries: a crash before this finds them again at
		// the next start (notified as auto, from the entry); one after it
		// finds the event in the outbox, or remembered as sent (same id).
		d.notifyBlocked(pending, added)
		d.stepDone("notify")
		// The seen set's fsync happens outside d.mu, so that offenders do
		// not wait for it; the writer lock orders it with the reconcile's
		// update of the set.
		ps := make([]netip.Prefix, len(pending))
		for i, u := range pending {
			ps[i] = u.entry.Prefix
		}
		if err := d.seen.add(ps...); err != nil {
			d.log.Warn("remembering the mirror's entries", "err", err) // only a hand deletion while stopped could go unforgiven
		}
		d.stepDone("seen")
		d.escalate(tx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %d offenders in the mirror: %w", len(entries), err)
	}
	return d.shareBlocked(pending, added)
}

// stepDone calls the test failpoint (d.step), if any, after the write named.
func (d *Daemon) stepDone(name string) {
	if d.step != nil {
		d.step(name)
	}
}

// recorded ends the in-between of offenders the mirror now records, inside
// the transaction that wrote them. Callers hold d.mu.
func (d *Daemon) recorded(pending []unrecorded, added []blocklist.Entry, took time.Duration) {
	for _, u := range pending {
		delete(d.unrecorded, u.entry.Prefix)
	}
	isNew := make(map[netip.Prefix]bool, len(added))
	for _, e := range added {
		isNew[e.Prefix] = true
		d.changed(e.Prefix, change{added: true, entry: e})
	}
	for _, u := range pending {
		o, e := u.o, u.entry
		if u.kerr != nil {
			// The mirror has it; the reconcile retries the kernel and keeps saying so.
			d.log.Error("offender recorded in the mirror but not in the kernel set", "addr", o.Addr, "err", d.explain(u.kerr))
			d.metrics.kernelErrors.Inc()
			d.counted(e, u.kerr)
			continue
		}
		if !isNew[e.Prefix] {
			continue
		}
		d.counted(e, nil)
		set := ipsetstore.Config{SetName: d.cfg.SetName}.Set(ipsetstore.FamilyOf(e.Prefix))
		d.metrics.setEntries.WithLabelValues(set).Inc() // until the next reconcile counts them
		d.metrics.mirrorEntries.Inc()
		d.metrics.blocked.Inc()
		d.log.Info("blocked offender", "addr", o.Addr, "bans", o.Bans, "jails", strings.Join(o.Jails, ","), "first", o.First, "last", o.Last, "took", took)
	}
}

// noteElsewhere records, inside a transaction, that the mirror holds a
// change the daemon did not make (the file is not the version it last read
// or wrote): the transaction's own write folds that change in, so the next
// reconcile must apply it even though the file is then the daemon's.
// Callers hold d.mu and the mirror's writer lock.
func (d *Daemon) noteElsewhere(tx *blocklist.Tx) {
	if !tx.Unchanged() {
		d.elsewhere++
		d.stale = true
	}
}

// changed records what a transaction did to p for a reconcile under way.
// Callers hold d.mu.
func (d *Daemon) changed(p netip.Prefix, c change) {
	if d.since != nil {
		d.since[p] = c
	}
}

// expire removes the expired entries from the mirror, then from the
// kernel (whose own timeouts would too, a moment apart). Callers hold the
// mirror's writer lock (tx), not d.mu.
func (d *Daemon) expire(tx *blocklist.Tx, now time.Time) {
	expired, err := tx.Expire(now)
	if err != nil {
		d.log.Error("reconcile: removing expired entries from the mirror", "err", err)
	}
	var nets netIndex
	if rest, err := tx.Entries(); err == nil {
		nets = newNetIndex(rest, now)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range expired {
		if r, ok := nets.around(e.Prefix); ok && !inHole(r, e.Prefix) {
			// A member hidden behind its net range: the kernel holds no
			// entry of its own (and on nftables a piece of the range may
			// look like one).
			d.changed(e.Prefix, change{})
			d.unblockReason[e.Prefix] = notify.ReasonExpiry
			d.log.Info("block expired (its net range stays)", "prefix", e.Prefix, "range", r.Prefix, "expires", e.Expires)
			continue
		}
		if derr := d.store.Del(e.Prefix); derr != nil {
			d.log.Warn("removing an expired block from the kernel; the reconcile retries", "prefix", e.Prefix, "err", derr)
		}
		d.changed(e.Prefix, change{})
		d.unblockReason[e.Prefix] = notify.ReasonExpiry
		d.log.Info("block expired", "prefix", e.Prefix, "expires", e.Expires)
	}
}
