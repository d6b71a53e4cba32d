package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/internal/progress"
	"github.com/recidivist/recidivist/internal/tick"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

// Daemon is one running `recidivist run`. It is the one owner of what is
// blocked: every change the daemon makes to the kernel sets and the mirror
// (offenders from the log, expiry, the reconcile that applies hand edits
// and heals drift, later other sources) is a transaction under mu, and a
// change of the mirror also holds the mirror's writer lock (taken before
// mu), which `ban` and `unban` take too. See owner.go.
type Daemon struct {
	log     *slog.Logger
	now     func() time.Time
	mirror  *blocklist.File
	watcher *watcher.Watcher
	metrics *Metrics
	// notifier hears of the mirror's transitions (nil: no notifications);
	// see notify.go.
	notifier *notify.Notifier
	// step, when set (tests only), is called between the recorder's
	// durable writes with the name of the one just done: a failpoint where
	// a test takes what a SIGKILL would leave on disk.
	step func(string)

	// recording serialises the mirror writes of Durable; recordNow wakes
	// recordLoop (buffered 1).
	recording sync.Mutex
	recordNow chan struct{}

	// newTicker makes the reconcile-interval ticker; intervalChanged wakes
	// reconcileLoop when a reload changed the interval (buffered 1).
	newTicker       tick.New
	intervalChanged chan struct{}

	// watch follows the kernel's nf_tables commits (Options.Watch; nil:
	// none); kernelChanged wakes reconcileLoop when it saw something of
	// ours deleted (buffered 1). See repair.go.
	watch         func(context.Context, func(nfwatch.Commit)) error
	kernelChanged chan struct{}
	// firewalld follows firewalld's reloads (Options.Firewalld; nil:
	// none); each wakes reconcileLoop through kernelChanged.
	firewalld func(context.Context, func()) error

	// reconciling serialises reconciles. Log reading never takes it: a
	// reconcile lists the kernel and reads the mirror outside mu and holds
	// mu only to apply the difference.
	reconciling sync.Mutex

	// mu guards the fields below; holding it is being the owner.
	mu      sync.Mutex
	cfg     *config.Config
	policy  blocklist.Policy
	store   ipsetstore.Store  // the kernel, or in a dry run a dryRunStore; never changes after New
	dryRun  bool              // the mirror is not written either; never changes after New
	explain func(error) error // Options.Explain
	seen    *seenSet          // after start, used only under the mirror's writer lock
	full    lastFull          // for the interval reconcile; see Daemon.quickCheck
	// toRepair is what the event watch saw deleted and no repair has
	// handled yet; watching says the watch runs. layoutGen is the ruleset
	// generation at which a layouter's layout was last right (layoutOK).
	toRepair  pendingRepair
	lastSets  []ipsetstore.SetStatus // as the last start or reconcile left them
	watching  bool
	layoutGen uint32
	layoutOK  bool
	started   time.Time // ban lines logged before it are history, not latency
	// unrecorded are offenders put in the kernel that the mirror does not
	// record yet (the write is under way, or failed on a full or read-only
	// disk and is retried): they stay in force through reconciles.
	unrecorded map[netip.Prefix]unrecorded
	// elsewhere counts the changes made by others (a person, ban, unban)
	// that a transaction found in the mirror; stale says one of them is
	// not applied to the kernel yet.
	elsewhere uint64
	stale     bool
	// since is non-nil while a reconcile works outside mu: every entry a
	// transaction adds (true) or removes (false) meanwhile, so the
	// reconcile accounts for them.
	since map[netip.Prefix]change
	// fleetReader applies other hosts' records (RunFleetReader); nil
	// without a fleet.
	fleetReader *fleet.Reader
	// link is what operators see of the fleet (fleetstatus.go).
	link fleetLink
	// outbox is what this host shares with the fleet (see outbox.go), and
	// fleetWriter pushes it (RunFleetWriter); nil without a fleet. The
	// outbox never changes after New.
	outbox      *outbox
	fleetWriter *fleet.Writer
	// unblockReason is why the daemon removed a prefix the seen set has
	// not noticed gone yet (notify.ReasonExpiry); a prefix gone without
	// one was unbanned or deleted by hand.
	unblockReason map[netip.Prefix]string
	// pending are the chains warned about as not existing yet.
	pending pendingChains
	// nets are the net ranges of the mirror as last read or written (to
	// tell a collapse from an unban); netRefused the last refusal logged
	// for each network; localAddrs the host's own addresses, which no net
	// range may hold.
	nets       map[netip.Prefix]blocklist.Entry
	netRefused map[netip.Prefix]string
	localAddrs func() []netip.Addr
	// ruleRepairs counts the reconciles that had to create or fix a set or
	// rule: the hit sampler takes an interval with one as blind.
	ruleRepairs atomic.Uint64
}

// Options are the parts of a Daemon that tests replace.
type Options struct {
	Store   ipsetstore.Store // the kernel; required unless cfg.DryRun, unused then
	Logger  *slog.Logger     // default slog.Default()
	Now     func() time.Time // default time.Now
	Metrics *Metrics         // default: a fresh, unregistered set
	// NewTicker makes the tickers of the reconcile interval and of
	// hit-sample-interval; default
	// tick.Real. Tests tick it by hand (tick.Manual).
	NewTicker tick.New
	// Explain adds what the user can do to a kernel error the daemon logs
	// (cmd/recidivist passes the one its commands use, so each fix is
	// written once, at the top); default: the error as it is.
	Explain func(error) error
	// Notifier is told of blocks and unblocks (nil: nobody is). Run runs
	// it beside the daemon, under the state directory's lock.
	Notifier *notify.Notifier
	// LocalAddrs returns the host's own addresses, which net escalation
	// never blocks; default LocalAddrs.
	LocalAddrs func() []netip.Addr
	// Watch follows the nf_tables commits of the kernel's namespace,
	// calling fn with each until ctx ends (nfwatch.Watcher.Run); Run runs
	// it beside the daemon and repairs what others delete of its rules,
	// chains, tables and sets within milliseconds. nil: no watch; the
	// header check every few seconds and the reconcile interval repair.
	Watch func(ctx context.Context, fn func(nfwatch.Commit)) error
	// Firewalld follows firewalld's Reloaded signal on the system bus,
	// calling fn after each reload until ctx ends (firewalld.Watcher.Run);
	// Run runs it beside the daemon, and each reload asks for the same
	// debounced repair as a deletion the watch saw, under the cause
	// firewalld-reload. nil: none.
	Firewalld func(ctx context.Context, fn func()) error
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
	if opt.Explain == nil {
		opt.Explain = func(err error) error { return err }
	}
	if opt.Store == nil && !cfg.DryRun {
		return nil, errors.New("daemon: no kernel store")
	}
	d := &Daemon{
		log:     opt.Logger,
		now:     opt.Now,
		mirror:  blocklist.Open(statedir.Mirror(cfg.StateDir)),
		metrics: opt.Metrics,
		explain: opt.Explain,
		cfg:     cfg,

		newTicker:       tick.Or(opt.NewTicker),
		intervalChanged: make(chan struct{}, 1),
		watch:           opt.Watch,
		firewalld:       opt.Firewalld,
		kernelChanged:   make(chan struct{}, 1),
		policy:          blocklist.Policy{Ignore: cfg.Ignore},
		store:           opt.Store,
		dryRun:          cfg.DryRun,
		seen:            newSeenSet(statedir.Seen(cfg.StateDir)),

		notifier:      opt.Notifier,
		unblockReason: make(map[netip.Prefix]string),
		nets:          make(map[netip.Prefix]blocklist.Entry),
		netRefused:    make(map[netip.Prefix]string),
		localAddrs:    opt.LocalAddrs,
	}
	if d.localAddrs == nil {
		d.localAddrs = LocalAddrs
	}
	d.mirror.SetPolicy(d.policy) // a mirror line the policy refuses is not in force
	if cfg.DryRun {
		d.store = newDryRunStore(opt.Logger)
	}
	d.unrecorded = make(map[netip.Prefix]unrecorded)
	d.recordNow = make(chan struct{}, 1)
	sharing := cfg.Fleet.On() && !cfg.DryRun
	wc := d.watcherConfig(cfg)
	if sharing {
		wc.OnBan = func(b watcher.Ban) { d.outbox.ban(b) }
		wc.Mark = func() uint64 { return d.outbox.mark() }
	}
	w, err := watcher.New(wc)
	if err != nil {
		return nil, err
	}
	d.watcher = w
	if sharing {
		if d.outbox, err = d.openOutbox(cfg, w.Mark()); err != nil {
			return nil, statedir.Error(cfg.StateDir, err)
		}
	}
	return d, nil
}

func (d *Daemon) watcherConfig(cfg *config.Config) watcher.Config {
	return watcher.Config{
		Logs:         cfg.Logs,
		StateDir:     cfg.StateDir,
		Threshold:    cfg.Threshold,
		Window:       cfg.Window,
		Location:     cfg.Location,
		Jails:        cfg.Jails,
		ExcludeJails: cfg.ExcludeJails,
		Ignore:       cfg.Ignore,
		Now:          d.now,
		Logger:       d.log,
		Durable:      d.Durable,
		Journal:      watcher.JournalConfig{Match: cfg.JournalMatch, Directory: cfg.JournalDirectory},
	}
}

// Run is the daemon: it holds the state directory's lock, puts the mirror in
// force in the kernel, tells systemd it is ready, then follows the log and
// reconciles until ctx ends. Sets and rules stay in place when it returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	stateDir, setName := d.cfg.StateDir, d.cfg.SetName
	d.mu.Unlock()
	lock, err := statedir.Acquire(stateDir, setName)
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
	g.Go(func() error { return d.recordLoop(ctx) })
	g.Go(func() error { return d.reconcileLoop(ctx) })
	g.Go(func() error { return d.hitLoop(ctx) })
	g.Go(func() error { return d.watchKernel(ctx) })
	g.Go(func() error { return d.watchFirewalld(ctx) })
	g.Go(func() error { return d.notifier.Run(ctx) }) // never fails; ends with ctx
	g.Go(func() error { return d.fleetStatusLoop(ctx) })
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
	d.started = d.now()
	entries, err := d.loadMirror()
	if err != nil {
		return err
	}
	if err := d.seen.load(entries, d.mirrorTime()); err != nil {
		return err
	}
	d.forgiveRemoved(entries, d.mirrorTime())
	start := time.Now()
	if err := restore(d.store, entries, d.now(), d.log, &d.pending); err != nil {
		return err
	}
	if d.dryRun {
		d.log.Info("dry run: the kernel and the mirror will not be changed", "mirror_entries", len(entries))
	} else {
		d.log.Info("blocklist in force", "entries", len(entries), "took", time.Since(start).Round(time.Millisecond))
	}
	d.metrics.observeMirror(entries)
	if st, ok := d.observeSets(); ok && rulesOnTop(st) && countsAre(st, inForce(entries, d.now())) {
		// Unhealthy already (fail2ban inserted its jump again since the
		// repair), or changed since the restore: no quick check may take
		// this state for the right one.
		d.full = lastFull{valid: true, status: st, expires: earliestExpiry(entries)}
	}
	if len(entries) >= bigMirror {
		// Reading and restoring a big mirror leaves hundreds of MB of
		// garbage that the runtime would hand back only over minutes.
		debug.FreeOSMemory()
	}
	return nil
}

// inForce counts the entries of es not expired at now, by family: what
// Restore put in the kernel.
func inForce(es []blocklist.Entry, now time.Time) map[ipsetstore.Family]int {
	n := map[ipsetstore.Family]int{}
	for e := range blocklist.InForce(es, now) {
		n[ipsetstore.FamilyOf(e.Prefix)]++
	}
	return n
}

// bigMirror is the size from which the start frees the memory its load
// and restore used at once.
const bigMirror = 100_000

// Restore makes the sets and rules exist and loads exactly entries into the
// sets in one atomic swap. It is the whole of `recidivist restore`. A
// configured chain that does not exist yet is warned about, not an error:
// the sets are created and loaded all the same.
func Restore(store ipsetstore.Store, entries []blocklist.Entry, now time.Time, log *slog.Logger) error {
	return restore(store, entries, now, log, &pendingChains{})
}

// RestoreRules puts the match rules back, and fixes them, for each family
// whose set exists, and changes no set: `recidivist restore --rules-only`,
// for a firewall's hook that runs after the firewall flushed the chains
// (ufw's after.init with MANAGE_BUILTINS=yes), while the sets and what the
// daemon put in them survived. A missing set is warned about, not an
// error: a rule cannot name it, and the full restore creates and fills it.
func RestoreRules(store ipsetstore.Store, log *slog.Logger) error {
	repairs, err := store.EnsureRules()
	if err != nil {
		return err
	}
	(&pendingChains{}).note(log, repairs)
	if len(repairs.SetsMissing) > 0 {
		log.Warn("set does not exist, so no rule may name it: run recidivist restore (recidivist-restore.service does at boot) to create and fill it",
			"sets", strings.Join(repairs.SetsMissing, ","))
	}
	if repairs.Changed() {
		log.Info("ensured the rules", "repaired", repairs.String())
	}
	return nil
}

// restore is Restore, warning of pending chains through pending.
func restore(store ipsetstore.Store, entries []blocklist.Entry, now time.Time, log *slog.Logger, pending *pendingChains) error {
	repairs, err := store.Ensure()
	if err != nil {
		return err
	}
	pending.note(log, repairs)
	if s := fmt.Sprint(repairs); s != "" && s != "{}" {
		log.Info("ensured sets and rules", "created", s)
	}
	rep := progress.New("restore", int64(len(entries)), "entries", progress.Options{Logger: log})
	defer rep.Done()
	if err := store.Replace(kernelEntries(entries, now), func(n int) { rep.Add(int64(n)) }); err != nil {
		return fmt.Errorf("loading the mirror into the sets: %w", err)
	}
	return nil
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
