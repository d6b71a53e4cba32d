package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
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
	mirrorName := filepath.Base(MirrorPath(dir))

	tick := time.NewTicker(interval)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
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
		case <-tick.C:
			if !d.quickCheck() {
				d.reconcile("interval")
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
	own := d.mirror.Unchanged()
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
// deleted by hand all show in the status.
func (d *Daemon) quickCheck() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.full
	if d.store == nil || !q.valid || q.skipped+1 >= fullEvery ||
		!q.expires.IsZero() && !d.now().Before(q.expires) || !d.mirror.Unchanged() {
		return false
	}
	st, err := d.store.Status()
	if err != nil || !slices.Equal(st.Sets, q.status.Sets) || !slices.Equal(st.Rules, q.status.Rules) {
		return false
	}
	q.skipped++
	d.metrics.observeStatus(st)
	return true
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

func (d *Daemon) reconcile(why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.full.valid = false // until this one succeeds
	entries, err := d.loadMirror()
	if err != nil {
		d.log.Error("reconcile: reading the mirror", "err", err)
		return
	}
	now := d.now()
	if d.store != nil && slices.ContainsFunc(entries, func(e blocklist.Entry) bool { return e.Expired(now) }) {
		expired, err := d.mirror.Expire(now)
		if err != nil {
			d.log.Error("reconcile: removing expired entries from the mirror", "err", err)
		}
		for _, e := range expired {
			d.log.Info("block expired", "prefix", e.Prefix, "expires", e.Expires)
		}
		if len(expired) > 0 {
			if entries, err = d.loadMirror(); err != nil {
				d.log.Error("reconcile: reading the mirror", "err", err)
				return
			}
		}
	}
	d.forgiveRemoved(entries, now)
	d.metrics.observeMirror(entries)
	if d.store == nil {
		return
	}
	// Offenders onFound put in the kernel ahead of the mirror stay; holding
	// fast keeps onFound from adding one between the listing and the repair.
	d.fast.Lock()
	if len(d.fast.ahead) > 0 {
		inMirror := make(map[netip.Prefix]bool, len(entries))
		for _, e := range entries {
			inMirror[e.Prefix] = true
		}
		for p, e := range d.fast.ahead {
			if !inMirror[p] {
				entries = append(entries, e)
			}
		}
	}
	report, err := ipsetstore.Reconcile(d.store, kernelEntries(entries, now))
	d.fast.Unlock()
	if err != nil {
		d.log.Error("reconcile: making the kernel equal the mirror", "why", why, "err", err)
		d.metrics.kernelErrors.Inc()
		return
	}
	if report.Changed() {
		d.metrics.repairs.Inc()
		d.log.Info("reconciled the kernel with the mirror", "why", why, "repaired", report.String())
	}
	if st, ok := d.observeSets(); ok {
		d.full = lastFull{valid: true, status: st, expires: earliestExpiry(entries)}
	}
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
func (d *Daemon) loadMirror() ([]blocklist.Entry, error) {
	entries, bad, err := d.mirror.Load()
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
	removed, err := d.seen.update(entries)
	if err != nil {
		d.log.Error("recording the mirror's entries", "err", err)
	}
	for _, p := range removed {
		d.watcher.Forgive(p, at)
		d.log.Info("unblocked and forgiven", "prefix", p, "bans_before", at.UTC().Format(time.RFC3339))
	}
}

func (d *Daemon) observeSets() (ipsetstore.Status, bool) {
	st, err := d.store.Status()
	if err != nil {
		return st, false // the metric keeps its last value; the next reconcile logs kernel errors
	}
	d.metrics.observeStatus(st)
	return st, true
}

// Reload applies a new configuration (SIGHUP): thresholds, window, jails and
// the ignore list take effect at once. Settings that name kernel objects or
// files (set-name, chain, state-dir, log) need a restart; a change of them
// is reported and ignored.
func (d *Daemon) Reload(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cfg
	if cfg.StateDir != old.StateDir || cfg.SetName != old.SetName || fmt.Sprint(cfg.Chains) != fmt.Sprint(old.Chains) ||
		fmt.Sprint(cfg.Logs) != fmt.Sprint(old.Logs) || cfg.Target != old.Target || cfg.Ports != old.Ports {
		d.log.Warn("reload: log, state-dir, set-name, chain, target and ports take effect only after a restart (systemctl restart recidivist)")
		cfg.StateDir, cfg.SetName, cfg.Chains, cfg.Logs, cfg.Target, cfg.Ports = old.StateDir, old.SetName, old.Chains, old.Logs, old.Target, old.Ports
	}
	d.cfg = cfg
	d.policy = blocklist.Policy{Ignore: cfg.Ignore}
	d.mirror.SetPolicy(d.policy) // lines of newly ignored addresses leave the kernel at the next reconcile
	d.fast.Lock()
	d.fast.policy, d.fast.banTime = d.policy, cfg.BanTime
	d.fast.Unlock()
	d.watcher.Reload(watcherConfig(cfg, d.now, d.log))
	d.log.Info("configuration reloaded", "threshold", cfg.Threshold, "window", config.FormatDuration(cfg.Window), "ignore", len(cfg.Ignore))
}
