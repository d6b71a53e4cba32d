package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/progress"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/watcher"
)

// MirrorPath is the mirror file inside a state directory.
func MirrorPath(stateDir string) string { return filepath.Join(stateDir, "blocklist") }

// Daemon is one running `recidivist run`.
type Daemon struct {
	log     *slog.Logger
	now     func() time.Time
	mirror  *blocklist.File
	watcher *watcher.Watcher
	metrics *Metrics

	// mu guards the fields below, shared by the watcher's offender callback
	// and the reconcile loop.
	mu     sync.Mutex
	cfg    *config.Config
	policy blocklist.Policy
	store  ipsetstore.Store // nil in dry-run; never changes after New
	seen   *seenSet
	full   lastFull // for the interval reconcile; see Daemon.quickCheck

	// fast is what onFound needs to put a new offender in the kernel at
	// once, under its own lock so that it never waits behind a mirror
	// write (which holds mu through its fsyncs). Lock order: mu, then fast.
	fast struct {
		sync.Mutex
		started time.Time // ban lines logged before it are history, not latency
		policy  blocklist.Policy
		banTime time.Duration
		// ahead holds the offenders put in the kernel that the mirror does
		// not record yet; the reconcile keeps them in force meanwhile.
		ahead map[netip.Prefix]blocklist.Entry
	}
}

// Options are the parts of a Daemon that tests replace.
type Options struct {
	Store   ipsetstore.Store // the kernel; required unless cfg.DryRun
	Logger  *slog.Logger     // default slog.Default()
	Now     func() time.Time // default time.Now
	Metrics *Metrics         // default: a fresh, unregistered set
}

// New prepares a daemon: it loads the watcher's state but touches neither the
// kernel nor the log yet.
func New(cfg *config.Config, opt Options) (*Daemon, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	if opt.Store == nil && !cfg.DryRun {
		return nil, errors.New("daemon: no kernel store")
	}
	w, err := watcher.New(watcherConfig(cfg, opt.Now, opt.Logger))
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		log:     opt.Logger,
		now:     opt.Now,
		mirror:  blocklist.Open(MirrorPath(cfg.StateDir)),
		watcher: w,
		metrics: opt.Metrics,
		cfg:     cfg,
		policy:  blocklist.Policy{Ignore: cfg.Ignore},
		store:   opt.Store,
		seen:    newSeenSet(seenPath(cfg.StateDir)),
	}
	d.mirror.SetPolicy(d.policy) // a mirror line the policy refuses is not in force
	if cfg.DryRun {
		d.store = nil
	}
	d.fast.policy, d.fast.banTime = d.policy, cfg.BanTime
	d.fast.ahead = make(map[netip.Prefix]blocklist.Entry)
	w.OnFound(d.onFound)
	return d, nil
}

func watcherConfig(cfg *config.Config, now func() time.Time, log *slog.Logger) watcher.Config {
	return watcher.Config{
		Logs:         cfg.Logs,
		StateDir:     cfg.StateDir,
		Threshold:    cfg.Threshold,
		Window:       cfg.Window,
		Location:     cfg.Location,
		Jails:        cfg.Jails,
		ExcludeJails: cfg.ExcludeJails,
		Ignore:       cfg.Ignore,
		Now:          now,
		Logger:       log,
	}
}

// Watcher gives access to the watcher's read-only views (candidates, stats).
func (d *Daemon) Watcher() *watcher.Watcher { return d.watcher }

// Run is the daemon: it holds the state directory's lock, puts the mirror in
// force in the kernel, tells systemd it is ready, then follows the log and
// reconciles until ctx ends. Sets and rules stay in place when it returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	stateDir := d.cfg.StateDir
	d.mu.Unlock()
	lock, err := Acquire(stateDir)
	if err != nil {
		return err
	}
	defer lock.Release()

	if err := d.start(); err != nil {
		return err
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		d.log.Warn("cannot notify systemd", "err", err)
	}
	defer daemon.SdNotify(false, daemon.SdNotifyStopping) //nolint:errcheck // nothing to do if systemd is gone

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return d.watcher.RunBatch(ctx, d.onOffenders)
	})
	g.Go(func() error { return d.reconcileLoop(ctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil && err == nil {
		return nil
	}
	return err
}

// start puts the whole mirror in force at once (an atomic swap of the sets),
// the same path as `recidivist restore`.
func (d *Daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fast.Lock()
	d.fast.started = d.now()
	d.fast.Unlock()
	entries, err := d.loadMirror()
	if err != nil {
		return err
	}
	if err := d.seen.load(entries, d.mirrorTime()); err != nil {
		return err
	}
	d.forgiveRemoved(entries, d.mirrorTime())
	if d.store == nil {
		d.log.Info("dry run: the kernel and the mirror will not be changed", "mirror_entries", len(entries))
		return nil
	}
	start := time.Now()
	if err := Restore(d.store, entries, d.now(), d.log); err != nil {
		return err
	}
	d.log.Info("blocklist in force", "entries", len(entries), "took", time.Since(start).Round(time.Millisecond))
	d.metrics.observeMirror(entries)
	if st, ok := d.observeSets(); ok {
		d.full = lastFull{valid: true, status: st, expires: earliestExpiry(entries)}
	}
	if len(entries) >= bigMirror {
		// Reading and restoring a big mirror leaves hundreds of MB of
		// garbage that the runtime would hand back only over minutes.
		debug.FreeOSMemory()
	}
	return nil
}

// bigMirror is the size from which the start frees the memory its load
// and restore used at once.
const bigMirror = 100_000

// Restore makes the sets and rules exist and loads exactly entries into the
// sets in one atomic swap. It is the whole of `recidivist restore`.
func Restore(store ipsetstore.Store, entries []blocklist.Entry, now time.Time, log *slog.Logger) error {
	repairs, err := store.Ensure()
	if err != nil {
		return err
	}
	if s := fmt.Sprint(repairs); s != "" && s != "{}" {
		log.Info("ensured sets and rules", "created", s)
	}
	if p, ok := store.(progressStore); ok {
		rep := progress.New("restore", int64(len(entries)), "entries", progress.Options{Logger: log})
		p.SetProgress(func(n int) { rep.Add(int64(n)) })
		defer func() {
			p.SetProgress(nil)
			rep.Done()
		}()
	}
	if err := store.Replace(kernelEntries(entries, now)); err != nil {
		return fmt.Errorf("loading the mirror into the sets: %w", err)
	}
	return nil
}

// progressStore is a store that can report how far a long Replace has got
// (the kernel's; a million entries take seconds).
type progressStore interface {
	SetProgress(fn func(added int))
}

// onFound puts offenders in the kernel the moment the watcher finds them,
// on the goroutine that read their lines, ahead of onOffenders: the mirror
// write there costs fsyncs (milliseconds, more on a busy disk) and would
// otherwise hold every new block behind the previous one's. Nothing here is
// durable or retried: onOffenders records the same offenders in the mirror,
// and tries the kernel again for any this could not add.
func (d *Daemon) onFound(batch []watcher.Offender) {
	if d.store == nil {
		return
	}
	d.fast.Lock()
	defer d.fast.Unlock()
	now := d.now()
	for _, o := range batch {
		e := offenderEntry(o, d.fast.banTime)
		if e.Expired(now) || d.fast.policy.Check(e.Prefix, false) != nil {
			continue // onOffenders says why
		}
		if err := d.store.Add(KernelEntry(e, now)); err != nil {
			continue // onOffenders tries again and reports it
		}
		d.fast.ahead[e.Prefix] = e
		if !o.Last.Before(d.fast.started) {
			d.metrics.latency.Observe(d.now().Sub(o.Last).Seconds())
		}
	}
}

// onOffenders records new offenders in the kernel and the mirror. It runs on
// the watcher's goroutine with every offender found since the last call (one
// while following the log, many during a first-start backfill); an error
// makes the watcher hand over the same offenders again. The mirror and the
// seen set are written once per call: each write costs fsyncs.
func (d *Daemon) onOffenders(batch []watcher.Offender) error {
	start := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	entries := make([]blocklist.Entry, 0, len(batch))
	offenders := make([]watcher.Offender, 0, len(batch))
	for _, o := range batch {
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
		entries = append(entries, e)
		offenders = append(offenders, o)
	}
	if d.store == nil {
		for _, o := range offenders {
			d.log.Info("dry run: would block offender", "addr", o.Addr, "bans", o.Bans, "jails", strings.Join(o.Jails, ","), "first", o.First, "last", o.Last)
		}
		return nil
	}
	if len(entries) == 0 {
		d.settled(batch)
		return nil
	}
	// onFound has put them in the kernel already, unless it could not or
	// the policy changed in between: try those again before the mirror.
	// Nothing is lost if the mirror write then fails: the watcher hands the
	// offenders over again until they are accepted (and after a crash
	// re-reads their lines).
	kerrs := make([]error, len(entries))
	d.fast.Lock()
	for i, e := range entries {
		if _, ok := d.fast.ahead[e.Prefix]; !ok {
			kerrs[i] = d.store.Add(KernelEntry(e, now))
		}
	}
	d.fast.Unlock()
	added, err := d.mirror.Add(entries...)
	if err != nil {
		return fmt.Errorf("recording %d offenders in the mirror: %w", len(entries), err)
	}
	d.settled(batch)
	ps := make([]netip.Prefix, len(entries))
	for i, e := range entries {
		ps[i] = e.Prefix
	}
	if err := d.seen.add(ps...); err != nil {
		d.log.Warn("remembering the mirror's entries", "err", err) // only a hand deletion while stopped could go unforgiven
	}
	isNew := make(map[netip.Prefix]bool, len(added))
	for _, e := range added {
		isNew[e.Prefix] = true
	}
	took := time.Since(start)
	for i, o := range offenders {
		if kerrs[i] != nil {
			// The mirror has it; the reconcile retries the kernel and keeps saying so.
			d.log.Error("offender recorded in the mirror but not in the kernel set", "addr", o.Addr, "err", kerrs[i])
			d.metrics.kernelErrors.Inc()
			d.counted(entries[i], kerrs[i])
			continue
		}
		if isNew[entries[i].Prefix] {
			delete(isNew, entries[i].Prefix) // a batch may report an address twice (a second offence): block and count it once
			d.counted(entries[i], nil)
			set := ipsetstore.Config{SetName: d.cfg.SetName}.Set(ipsetstore.FamilyOf(entries[i].Prefix))
			d.metrics.setEntries.WithLabelValues(set).Inc() // until the next reconcile counts them
			d.metrics.mirrorEntries.Inc()
			d.metrics.blocked.Inc()
			d.log.Info("blocked offender", "addr", o.Addr, "bans", o.Bans, "jails", strings.Join(o.Jails, ","), "first", o.First, "last", o.Last, "took", took)
		}
	}
	return nil
}

// settled ends the stay ahead of the mirror of the batch's offenders: the
// mirror records them now, or the policy (changed by a reload since onFound)
// refused them and the next reconcile takes them out of the kernel.
func (d *Daemon) settled(batch []watcher.Offender) {
	d.fast.Lock()
	defer d.fast.Unlock()
	for _, o := range batch {
		delete(d.fast.ahead, netip.PrefixFrom(o.Addr, o.Addr.BitLen()))
	}
}

// offenderEntry is the mirror entry that blocks o. It is added at the time
// of the ban that made o an offender (to the second, as the mirror writes
// it), not when the line was read, so a live run, a catch-up after downtime
// and a first start write the same entry; banTime > 0 sets its expiry,
// counted from that ban.
func offenderEntry(o watcher.Offender, banTime time.Duration) blocklist.Entry {
	e := blocklist.Entry{
		Prefix: netip.PrefixFrom(o.Addr, o.Addr.BitLen()),
		Added:  o.Last.UTC().Truncate(time.Second),
		Jails:  o.Jails,
		Bans:   o.Bans,
	}
	if banTime > 0 {
		e.Expires = e.Added.Add(banTime)
	}
	return e
}

func kernelEntries(es []blocklist.Entry, now time.Time) []ipsetstore.Entry {
	out := make([]ipsetstore.Entry, 0, len(es))
	for _, e := range es {
		if e.Expired(now) {
			continue
		}
		out = append(out, KernelEntry(e, now))
	}
	return out
}

// KernelEntry is the kernel set entry of a mirror entry: the remaining time of an
// expiring block becomes its timeout.
func KernelEntry(e blocklist.Entry, now time.Time) ipsetstore.Entry {
	k := ipsetstore.Entry{Prefix: e.Prefix, Comment: "recidivist"}
	if !e.Expires.IsZero() {
		k.Timeout = e.Expires.Sub(now).Round(time.Second)
		if k.Timeout < time.Second {
			k.Timeout = time.Second
		}
	}
	return k
}
