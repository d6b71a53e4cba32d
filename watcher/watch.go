package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/recidivist/recidivist/internal/progress"
)

// Config configures a Watcher.
type Config struct {
	Logs         []string // fail2ban logs to follow; each has its own follower, parser and checkpoint
	StateDir     string   // where StateFile lives; created 0700
	Threshold    int
	Window       time.Duration
	Location     *time.Location // zone of zone-less timestamps; nil is time.Local
	Jails        []string       // only these jails count; empty is all
	ExcludeJails []string
	Ignore       []netip.Prefix
	Now          func() time.Time // nil is time.Now
	Logger       *slog.Logger     // nil is slog.Default
	// Progress tunes the report of a first-start backfill (bytes read of
	// the current and rotated logs, rate, ETA); its Logger defaults to
	// Logger. A backfill that ends within the first interval reports
	// nothing.
	Progress progress.Options
}

// saveEvery is how often a changed state is written: often enough that a
// crash replays at most a second of log, rarely enough to cost nothing.
const saveEvery = time.Second

// expireEvery is how often addresses whose bans all left the window are
// dropped, which bounds memory by the addresses in the window.
const expireEvery = time.Minute

// Retry delays for an offender the callback refused.
const (
	firstRetry = time.Second
	maxRetry   = 30 * time.Second
)

// Watcher follows fail2ban's logs, counts their bans in one Tracker and
// hands offenders to a callback, keeping a checkpoint and the history in
// the state directory so that a restart loses nothing and counts nothing
// twice.
//
// Offenders are delivered at least once: an offender is queued when found
// and removed from the queue only when the callback accepts it; the queue
// is saved with the checkpoint, so neither a callback error (retried with
// backoff, while counting goes on) nor a crash loses one. A crash after the
// callback accepted an offender but before the next save (at most
// saveEvery) hands it over again after the restart; the callback must be
// idempotent (the blocklist never duplicates an address).
type Watcher struct {
	cfg     Config
	log     *slog.Logger
	tracker *Tracker // safe for concurrent use on its own

	// mu guards the fields below and serialises every use of the pipelines:
	// one follower goroutine per log feeds its lines under mu, and Forgive,
	// Stats and Reload take it from any goroutine. The offender callback is
	// never called with mu held.
	mu      sync.Mutex
	logs    []*followed
	pending []Offender   // found, not yet accepted by the callback, oldest first
	dirty   bool         // changed since the last save
	compact bool         // the next save writes the whole state (see persist)
	retired []Checkpoint // of logs no longer configured (see adoptCheckpoints)
	filter  *Filter

	kick chan struct{} // wakes the delivery loop; buffered 1

	saving sync.Mutex // one save at a time; taken before mu
	store  stateStore // guarded by saving

	found func([]Offender) // see OnFound; set before Run
}

// OnFound makes Run and RunBatch call fn with the offenders each batch of
// lines produced, at once, on the goroutine that read the lines, before
// they are queued for the callback. It is for quick, best-effort work that
// must not wait behind the callback's durable work: the daemon puts
// offenders in the kernel here, ahead of the mirror's fsyncs. fn is called
// without the watcher's lock, never retried, and must not block for long:
// reading the log waits for it. Call OnFound before Run.
func (w *Watcher) OnFound(fn func([]Offender)) { w.found = fn }

// followed is one configured log.
type followed struct {
	path     string // as configured: names the log in the state and in status
	file     string // where it is read: resolved (see resolveLog)
	pipe     *Pipeline
	cp       *Checkpoint // nil until a line of it was processed, or loaded
	backfill *backfill   // nil unless a first-start backfill is under way
}

// New validates cfg, loads the state (history, checkpoints, queued
// offenders) from cfg.StateDir and returns a Watcher ready to Run. A
// corrupt state file is moved aside (StateFile.corrupt) with an error
// logged, and the logs are read as on first start.
func New(cfg Config) (*Watcher, error) {
	if len(cfg.Logs) == 0 {
		return nil, fmt.Errorf("creating watcher: no log to follow: %w", ErrBadConfig)
	}
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("creating watcher: no state directory: %w", ErrBadConfig)
	}
	if cfg.Threshold < 1 || cfg.Window < 0 {
		return nil, fmt.Errorf("creating watcher: threshold %d must be at least 1 and window %v not negative: %w", cfg.Threshold, cfg.Window, ErrBadConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	w := &Watcher{
		cfg:     cfg,
		log:     cfg.Logger,
		tracker: NewTracker(cfg.Threshold, cfg.Window),
		filter:  NewFilter(cfg.Jails, cfg.ExcludeJails, cfg.Ignore),
		kick:    make(chan struct{}, 1),
	}
	for _, path := range cfg.Logs {
		w.logs = append(w.logs, &followed{path: path, file: resolveLog(path), pipe: w.newPipeline()})
	}
	if err := sameFile(w.logs); err != nil {
		return nil, fmt.Errorf("creating watcher: %w", err)
	}
	w.store.dir = cfg.StateDir
	if err := w.load(); err != nil {
		return nil, err
	}
	w.tracker.startOps()
	return w, nil
}

// newPipeline builds a log's decision path on the shared Tracker.
func (w *Watcher) newPipeline() *Pipeline {
	return NewPipeline(NewParser(ParserConfig{Location: w.cfg.Location, Now: w.cfg.Now}), w.filter, w.tracker)
}

// load reads the state file, if any, into the Watcher.
func (w *Watcher) load() error {
	st, found, jr, err := loadStateAndJournal(w.cfg.StateDir, w.tracker)
	if jr.dropped > 0 {
		w.log.Warn("dropped the torn end of the watcher journal (a crash while saving); the lines after it are read again",
			"file", filepath.Join(w.cfg.StateDir, JournalFile), "bytes", jr.dropped, "records_kept", jr.records)
	}
	if jr.stale {
		w.log.Info("ignored a watcher journal of an earlier state (folded into it already)", "file", filepath.Join(w.cfg.StateDir, JournalFile))
	}
	if errors.Is(err, ErrCorruptHistory) || errors.Is(err, ErrHistoryVersion) {
		path := filepath.Join(w.cfg.StateDir, StateFile)
		if mvErr := os.Rename(path, path+".corrupt"); mvErr != nil {
			return fmt.Errorf("moving aside corrupt state %s: %w (after %w)", path, mvErr, err)
		}
		w.log.Error("watcher state is unreadable; moved it aside and reading the logs as on first start",
			"err", err, "moved_to", path+".corrupt")
		return nil
	}
	if err != nil || !found {
		return err
	}
	w.pending = st.Pending
	return w.adoptCheckpoints(st)
}

// Run follows every log until ctx ends, handing each offender to
// onOffender (see Watcher for the delivery guarantee). It saves the state
// every second while it changes and once more on the way out. It returns
// nil when ctx ends, or the first error that stopped a follower or the
// final save.
func (w *Watcher) Run(ctx context.Context, onOffender func(Offender) error) error {
	return w.RunBatch(ctx, func(batch []Offender) error {
		for i, o := range batch {
			if err := onOffender(o); err != nil {
				// The ones before o were accepted: do not hand them over again.
				w.accepted(batch[:i])
				return err
			}
		}
		return nil
	})
}

// RunBatch is Run handing over every queued offender at once (up to
// maxBatch, oldest first) instead of one by one, so that a backfill that
// finds thousands costs the callback one write, not thousands. A refused
// batch is offered again whole (with whatever was queued meanwhile); the
// callback must be idempotent, as for Run.
func (w *Watcher) RunBatch(ctx context.Context, onOffenders func([]Offender) error) error {
	// No wall-clock expiry before reading: lines logged while the daemon
	// was stopped decide with the history as they would have live.
	w.mu.Lock()
	w.setFloor() // the checkpoints tell how far each log was read
	w.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range w.logs {
		plan, err := w.plan(l)
		if err != nil {
			return err
		}
		defer w.endBackfill(l)
		f, err := NewFollower(FollowConfig{Path: l.file, Start: plan, MaxLine: MaxLineLength, Logger: w.log})
		if err != nil {
			return err
		}
		g.Go(func() error {
			return f.Run(gctx, func(lines []Line) error {
				if err := gctx.Err(); err != nil {
					return err // stop a long backfill promptly; the batch is read again next time
				}
				w.process(l, lines)
				return nil
			})
		})
	}
	g.Go(func() error { return w.deliver(gctx, onOffenders) })
	g.Go(func() error { return w.maintain(gctx) })
	err := g.Wait()
	if saveErr := w.persist(true); saveErr != nil {
		return errors.Join(err, saveErr)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// plan decides where reading l starts (see planStart). When l had a
// checkpoint that no file matches any more, bans up to the last one
// counted from l are not counted again.
func (w *Watcher) plan(l *followed) ([]Segment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	plan, fresh, err := planStart(l.file, l.cp, w.log)
	if err != nil {
		return nil, err
	}
	if fresh && l.cp != nil {
		l.pipe.countedUntil = l.cp.LastBan
	}
	if fresh {
		opt := w.cfg.Progress
		if opt.Logger == nil {
			opt.Logger = w.log
		}
		if l.backfill, err = startBackfill(l.file, plan, opt); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// process runs a batch of lines of l through its pipeline, queues the
// offenders and moves l's checkpoint past the batch.
func (w *Watcher) process(l *followed, lines []Line) {
	w.mu.Lock()
	queued := len(w.pending)
	for _, line := range lines {
		if o, ok := l.pipe.Line(line.Text); ok {
			w.pending = append(w.pending, o)
		}
	}
	var found []Offender
	if len(w.pending) > queued && w.found != nil {
		found = slices.Clone(w.pending[queued:])
	}
	wake := len(w.pending) > queued
	last := lines[len(lines)-1]
	l.cp = &Checkpoint{Log: l.path, File: last.File, Offset: last.Offset, LastBan: l.pipe.stats.LastBan}
	w.dirty = true
	w.setFloor()
	b := l.backfill
	if b != nil && b.read(last) {
		l.backfill = nil
	}
	w.mu.Unlock()
	if len(found) > 0 {
		w.found(found)
	}
	if wake {
		w.wake()
	}
	if b != nil {
		b.report() // outside mu: it may write a log line
	}
}

// wake tells the delivery loop there is something to deliver.
func (w *Watcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default: // already woken
	}
}

// maxBatch is the most offenders handed to the callback in one call.
const maxBatch = 1024

// deliver hands queued offenders to onOffenders in the order found, as
// many at a time as are queued (up to maxBatch), retrying a refused batch
// with growing delays until it is accepted or ctx ends.
func (w *Watcher) deliver(ctx context.Context, onOffenders func([]Offender) error) error {
	w.wake() // offenders queued before a restart
	delay := firstRetry
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		}
		for {
			batch := w.nextPending()
			if len(batch) == 0 {
				break
			}
			if err := onOffenders(batch); err != nil {
				w.log.Error("offenders not accepted; retrying", "count", len(batch), "first", batch[0].Addr, "retry_in", delay, "err", err)
				t := time.NewTimer(delay)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
				delay = min(2*delay, maxRetry)
				continue
			}
			delay = firstRetry
			w.accepted(batch)
		}
	}
}

// nextPending returns a copy of the oldest queued offenders, at most
// maxBatch of them.
func (w *Watcher) nextPending() []Offender {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.pending[:min(len(w.pending), maxBatch)])
}

// offence identifies one offender report: the same address reported again
// after more bans is a new report.
type offence struct {
	addr netip.Addr
	last int64
	bans int
}

func (o Offender) offence() offence { return offence{o.Addr, o.Last.UnixNano(), o.Bans} }

// accepted removes batch from the queue (Forgive may have removed some of
// it already, and more may have been queued behind it).
func (w *Watcher) accepted(batch []Offender) {
	if len(batch) == 0 {
		return
	}
	done := make(map[offence]struct{}, len(batch))
	for _, o := range batch {
		done[o.offence()] = struct{}{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.pending)
	w.pending = slices.DeleteFunc(w.pending, func(p Offender) bool {
		_, ok := done[p.offence()]
		return ok
	})
	if len(w.pending) != n {
		w.dirty = true
	}
}

// maintain saves the state while it changes and expires old addresses.
func (w *Watcher) maintain(ctx context.Context) error {
	save := time.NewTicker(saveEvery)
	defer save.Stop()
	expire := time.NewTicker(expireEvery)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-save.C:
			if err := w.save(); err != nil {
				// Counting goes on; the next tick tries again, and the final
				// save at shutdown reports a lasting failure.
				w.log.Error("saving watcher state", "err", err)
			}
		case <-expire.C:
			w.expire()
		}
	}
}

// expire drops the addresses that no ban still to come can make offenders
// (see floor). It never looks at the wall clock alone: after any downtime
// the lines logged meanwhile are read first and decide as they would have
// live.
func (w *Watcher) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.floor(); ok && w.tracker.Expire(f) > 0 {
		w.dirty = true
	}
}

// setFloor bounds the Tracker's internal sweeps by floor, so that a log
// read ahead of another never sweeps away what the other still needs.
// Callers hold w.mu.
func (w *Watcher) setFloor() {
	if f, ok := w.floor(); ok {
		w.tracker.SetFloor(f)
	}
}

// floor is the ban time that no ban still to come is older than, as far as
// the logs tell: the newest ban counted from the log furthest behind (the
// logs are read at once, each at its own pace), less the disorder a log may
// have (sweepSlack). A log without any counted ban is not waited for,
// unless its first-start backfill is under way: its first bans may be as
// old as any, so nothing is dropped until one comes (or the backfill ends).
// The wall clock only ever lowers the floor: a line stamped in the future
// (a wrong clock, a forged line) must not push every real ban out of the
// window. ok is false while no log has a counted ban. Callers hold w.mu.
func (w *Watcher) floor() (time.Time, bool) {
	var f time.Time
	for _, l := range w.logs {
		last := l.pipe.stats.LastBan
		if last.IsZero() && l.backfill != nil {
			return time.Unix(0, 0), true // before any ban a log can hold
		}
		if !last.IsZero() && (f.IsZero() || last.Before(f)) {
			f = last
		}
	}
	if f.IsZero() {
		return time.Time{}, false
	}
	if now := w.cfg.Now(); now.Before(f) {
		f = now
	}
	return f.Add(-sweepSlack), true
}

// save writes what changed in the state, if anything (see JournalFile).
func (w *Watcher) save() error { return w.persist(false) }

// snapshotLocked is the state's checkpoints, queue and counts; w.mu is held.
func (w *Watcher) snapshotLocked() savedState {
	st := savedState{Saved: w.cfg.Now().UTC(), Pending: slices.Clone(w.pending)}
	for _, l := range w.logs {
		if l.cp != nil {
			cp := *l.cp
			cp.LastBanLine = string(l.pipe.lastLine)
			st.Checkpoints = append(st.Checkpoints, cp)
		}
		st.Stats = append(st.Stats, saveStats(l.path, l.pipe.Stats()))
	}
	return st
}

// Forgive makes the bans of addresses in p logged at or before at never
// count again (unban), and drops queued offenders in p found from them.
// Safe to call from any goroutine, before or during Run.
func (w *Watcher) Forgive(p netip.Prefix, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracker.Forgive(p, at)
	w.pending = slices.DeleteFunc(w.pending, func(o Offender) bool {
		return p.Contains(o.Addr) && !o.Last.After(at)
	})
	w.dirty = true
}

// Candidates returns the tracked addresses, most bans first (see
// Tracker.Candidates). Safe to call from any goroutine.
func (w *Watcher) Candidates() []Offender {
	return w.tracker.Candidates()
}

// Tracked returns how many addresses the Tracker holds: those with bans in
// the window that are not offenders yet, the length Candidates would have,
// without building that list. It only takes the Tracker's own lock, so a
// metrics collector may call it from any goroutine, as often as it likes,
// while Run goes on.
func (w *Watcher) Tracked() int {
	return w.tracker.Len()
}

// Stats returns the counts of every log together. They are saved with the
// state, so after a restart they go on from the saved counts. Safe to call
// from any goroutine.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s Stats
	for _, l := range w.logs {
		s = s.merge(l.pipe.Stats())
	}
	return s
}

// Reload applies a new threshold, window, jail selection, ignore list,
// log time zone and clock (SIGHUP). The logs and the state directory
// cannot change while running: they are kept, and a change is logged.
// Safe to call from any goroutine, before or during Run.
func (w *Watcher) Reload(cfg Config) {
	if cfg.Threshold < 1 || cfg.Window < 0 {
		w.log.Error("reload ignored: invalid threshold or window", "threshold", cfg.Threshold, "window", cfg.Window)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(cfg.Logs, w.cfg.Logs) || cfg.StateDir != w.cfg.StateDir {
		w.log.Warn("reload: log and state-dir change only with a restart")
	}
	cfg.Logs, cfg.StateDir = w.cfg.Logs, w.cfg.StateDir
	// The journal replays the tracker's operations under the policy in
	// force when it is read: a new policy starts from a whole state.
	w.compact = true
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = w.cfg.Logger
	}
	zoneChanged := cfg.Location.String() != w.cfg.Location.String()
	w.cfg = cfg
	w.tracker.SetPolicy(cfg.Threshold, cfg.Window)
	w.filter = NewFilter(cfg.Jails, cfg.ExcludeJails, cfg.Ignore)
	for _, l := range w.logs {
		l.pipe.filter = w.filter
		if zoneChanged {
			p := NewParser(ParserConfig{Location: cfg.Location, Now: cfg.Now})
			p.adoptSkipped(l.pipe.parser)
			l.pipe.parser = p
		}
	}
}
