package daemon

import (
	"context"
	"net/netip"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

// hitSaveEvery bounds how often the hit record is written: a crash loses at
// most this much of it, and a lost interval only delays idle unblocking.
const hitSaveEvery = time.Hour

// hitLoop samples the blocks' counters every hit-sample-interval into the
// hit record (package hits), and unblocks the blocks idle longer than
// idle-unblock. It never holds d.mu while it lists the kernel or writes
// the record: only an idle unblock is a transaction of the owner. Its
// failures are logged and counted, and the next interval tries again;
// they never end the daemon.
func (d *Daemon) hitLoop(ctx context.Context) error {
	counter, ok := d.store.(ipsetstore.Counter)
	if !ok || d.dryRun {
		return nil // a dry run has no kernel to count in
	}
	d.mu.Lock()
	interval, dir := d.cfg.HitSampleInterval, d.cfg.StateDir
	d.mu.Unlock()
	path := statedir.Hits(dir)
	book, err := hits.Load(path)
	if err != nil {
		d.log.Error("reading the hit record; counting afresh (idle times start again)", "err", err)
		book = &hits.Book{}
	}
	s := &sampler{d: d, counter: counter, book: book, path: path, dir: dir, blind: true} // blind: the daemon was not watching before
	every := d.newTicker(interval)
	defer every.Stop()
	for {
		select {
		case <-ctx.Done():
			s.save()
			return nil
		case <-every.C():
			s.sample()
			if d.now().Sub(s.saved) >= hitSaveEvery {
				s.save()
			}
		}
	}
}

// sampler is the state of hitLoop.
type sampler struct {
	d       *Daemon
	counter ipsetstore.Counter
	book    *hits.Book
	path    string
	dir     string    // the state directory (state-dir needs a restart)
	saved   time.Time // when the record was last written
	// blind is true when the interval under way cannot age anything: the
	// first one after a start, or one whose listing failed.
	blind bool
	// repairs is d.ruleRepairs at the last sample: a rule put back since
	// means it was missing during the interval.
	repairs uint64
}

// sample is one sampling: the rules' state, the counters, the mirror.
func (s *sampler) sample() {
	d := s.d
	repairs := d.ruleRepairs.Load()
	blind := s.blind || repairs != s.repairs
	s.repairs = repairs
	if st, err := d.store.Status(); err != nil || !rulesInPlace(st) {
		blind = true // packets from blocked sources pass unseen now
	}
	counted, err := s.counter.ListCounted()
	if err != nil {
		d.log.Warn("reading the blocks' packet counters; this interval ages nothing", "err", d.explain(err))
		d.metrics.hitSamples.WithLabelValues("failed").Inc()
		s.blind = true
		return
	}
	// The mirror is read outside d.mu (a million lines take a while);
	// offenders in the kernel and not in the mirror yet count too.
	d.mu.Lock()
	mirror := d.mirror
	var unrec []blocklist.Entry
	for _, u := range d.unrecorded {
		if u.kerr == nil {
			unrec = append(unrec, u.entry)
		}
	}
	d.mu.Unlock()
	entries, err := d.loadMirrorOf(mirror)
	entries = append(entries, unrec...)
	if err != nil {
		d.log.Warn("reading the mirror to sample the blocks' counters; this interval ages nothing", "err", err)
		d.metrics.hitSamples.WithLabelValues("failed").Inc()
		s.blind = true
		return
	}
	now := d.now()
	entries = inForceOnly(entries, now)
	for f, n := range s.book.Sample(now, entries, counted, blind) {
		d.metrics.blockedPackets.WithLabelValues(f.String()).Add(float64(n))
	}
	s.blind = false
	if blind {
		d.metrics.hitSamples.WithLabelValues("blind").Inc()
	} else {
		d.metrics.hitSamples.WithLabelValues("ok").Inc()
	}
	d.metrics.observeIdle(s.book, entries, now)
	d.unblockIdle(s.book, now)
}

// save writes the record; a failure is logged and retried at the next
// sample.
func (s *sampler) save() {
	if s.book.Sampled.IsZero() {
		return // nothing sampled: keep what the file holds
	}
	if err := hits.Save(s.path, s.book); err != nil {
		s.d.log.Warn("saving the hit record; retrying at the next sample", "err", statedir.Error(s.dir, err))
		return
	}
	s.saved = s.d.now()
}

// rulesInPlace reports whether every set exists, every existing chain
// holds a match rule and some chain does: packets from blocked sources
// meet the counters. A configured chain that does not exist (DOCKER-USER
// without Docker) is no fault while another one counts.
func rulesInPlace(st ipsetstore.Status) bool {
	for _, set := range st.Sets {
		if !set.Exists {
			return false
		}
	}
	matched := false
	for _, r := range st.Rules {
		if r.ChainExists && r.Count == 0 {
			return false
		}
		matched = matched || r.Count > 0
	}
	return matched
}

func inForceOnly(es []blocklist.Entry, now time.Time) []blocklist.Entry {
	out := make([]blocklist.Entry, 0, len(es))
	for e := range blocklist.InForce(es, now) {
		out = append(out, e)
	}
	return out
}

// unblockIdle removes the blocks idle-unblock allows that have not been
// hit for idle-unblock: one transaction of the owner, like an unban, but
// nothing is forgiven: the bans the offender earns from now on count as
// ever, and the one that completes the threshold blocks it again.
func (d *Daemon) unblockIdle(book *hits.Book, now time.Time) {
	d.mu.Lock()
	idle, manualToo := d.cfg.IdleUnblock, d.cfg.IdleUnblockManual
	d.mu.Unlock()
	if idle <= 0 {
		return
	}
	err := d.mirror.Exclusive(func(tx *blocklist.Tx) error {
		d.mu.Lock()
		d.noteElsewhere(tx)
		d.mu.Unlock()
		current, _, err := d.mirror.Load()
		if err != nil {
			return err
		}
		var gone []netip.Prefix
		for _, e := range current {
			if hits.Unblockable(e, manualToo) && !e.Expired(now) && book.Idle(e, now) >= idle {
				gone = append(gone, e.Prefix)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		removed, err := tx.Remove(gone...)
		if err != nil {
			return err
		}
		ps := make([]netip.Prefix, len(removed))
		for i, e := range removed {
			ps[i] = e.Prefix
		}
		// Out of the seen set now, so that no reconcile takes them for an
		// unban and forgives them.
		if err := d.seen.forget(ps...); err != nil {
			d.log.Warn("remembering the mirror's entries", "err", err) // a restart before the next save would forgive them
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		evs := make([]notify.Event, 0, len(removed))
		for _, e := range removed {
			if kerr := d.store.Del(e.Prefix); kerr != nil {
				d.log.Error("idle block out of the mirror but still in the kernel set; the reconcile retries", "prefix", e.Prefix, "err", d.explain(kerr))
			}
			d.changed(e.Prefix, change{})
			r := book.Records[e.Prefix]
			lastHit := "never"
			if !r.LastHit.IsZero() {
				lastHit = r.LastHit.UTC().Format(time.RFC3339)
			}
			d.log.Info("unblocked idle block", "prefix", e.Prefix, "reason", notify.ReasonIdle, "last_hit", lastHit, "idle", book.Idle(e, now).Round(time.Second), "added", e.Added)
			d.metrics.idleUnblocked.Inc()
			evs = append(evs, notify.Event{Kind: notify.KindUnblock, Reason: notify.ReasonIdle, Prefix: e.Prefix.String(), Jails: e.Jails, Bans: e.Bans, Time: now.UTC()})
		}
		if d.notifier != nil {
			d.notifier.Enqueue(evs...)
		}
		return nil
	})
	if err != nil {
		d.log.Error("unblocking idle blocks; the next sample tries again", "err", err)
	}
}
