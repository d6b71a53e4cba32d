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
	"github.com/recidivist/recidivist/internal/tick"
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
	// Durable, if set, is called before the state is saved with a
	// checkpoint past offenders the callback accepted: the callback may
	// accept them before they are durable (the daemon puts them in the
	// kernel at once and writes its mirror behind), and Durable returns
	// once they are, or the error that keeps the state from being saved
	// (a crash then reads their lines again).
	Durable func() error
	// Progress tunes the report of a first-start backfill (bytes read of
	// the current and rotated logs, rate, ETA); its Logger defaults to
	// Logger. A backfill that ends within the first interval reports
	// nothing.
	Progress progress.Options
	// NewTicker makes the tickers of the periodic save (saveEvery) and
	// expiry (expireEvery); nil is tick.Real. Tests tick them by hand
	// (tick.Manual).
	NewTicker tick.New
	// Journal says how the log JournalLog ("journal") is read.
	Journal JournalConfig
	// OnBan, if set, hears every countable ban a log line brings that
	// passes the filter and is counted (not one read again after a lost
	// checkpoint), under the watcher's lock, in the order counted. It must
	// not block; Durable makes what it kept durable before the checkpoint
	// moves past the line.
	OnBan func(Ban)
	// Mark, if set, is saved with every checkpoint (called under the
	// watcher's lock, so it counts exactly the bans OnBan heard up to the
	// lines the checkpoint covers); Watcher.Mark returns the one loaded.
	Mark func() uint64
}

// saveEvery is how often a changed state is written: often enough that a
// crash replays at most a second of log, rarely enough to cost nothing.
const saveEvery = time.Second

// expireEvery is how often addresses whose bans all left the window are
// dropped, which bounds memory by the addresses in the window.
const expireEvery = time.Minute

// Retry delays for a batch of offenders the callback refused; reading the
// log waits meanwhile (fail2ban goes on writing it, nothing is lost).
const (
	firstRetry = time.Second
	maxRetry   = 30 * time.Second
)

// Watcher follows fail2ban's logs, counts their bans in one Tracker and
// hands offenders to a callback, keeping a checkpoint and the history in
// the state directory so that a restart loses nothing and counts nothing
// twice.
//
// The log is the queue. The offenders a batch of lines produced are handed
// to the callback on the goroutine that read the lines, before the next
// batch is read; a refusal is retried in place with backoff (reading that
// log waits). A log's checkpoint moves past a batch only once the callback
// accepted its offenders, and no state is saved while a batch waits for
// the callback, so the saved history never counts lines the saved
// checkpoint does not cover: a crash re-reads the lines and decides them
// again. An offender accepted just before a crash (at most saveEvery
// before) is handed over again after the restart; the callback must be
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
	dirty   bool         // changed since the last save
	compact bool         // the next save writes the whole state (see persist)
	retired []Checkpoint // of logs no longer configured (see adoptCheckpoints)
	filter  *Filter
	// handing counts the batches whose offenders wait for the callback:
	// their lines are counted, their checkpoint not moved, so no save.
	handing int
	// abandoned is set when a run ended with a batch never accepted: the
	// state on disk (before that batch) stays, and the restart reads it
	// again.
	abandoned bool
	// legacy are offenders a state file of an older version had queued for
	// the callback; RunBatch hands them over once before reading on.
	legacy []Offender
	// mark is Config.Mark as saved with the checkpoints loaded (0: none).
	mark uint64
	// afterCount, when set (tests), runs in process between counting a
	// batch and moving its checkpoint, with mu not held.
	afterCount func()

	saving sync.Mutex // one save at a time; taken before mu
	store  stateStore // guarded by saving
}

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
	if err := CheckJournalMatch(cfg.Journal.Match); err != nil {
		return nil, fmt.Errorf("creating watcher: %w", err)
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
	}
	for _, path := range cfg.Logs {
		file := path
		if !IsJournal(path) {
			file = resolveLog(path)
		}
		w.logs = append(w.logs, &followed{path: path, file: file, pipe: w.newPipeline()})
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
	p := NewPipeline(NewParser(ParserConfig{Location: w.cfg.Location, Now: w.cfg.Now}), w.filter, w.tracker)
	p.onBan = w.cfg.OnBan
	return p
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
	w.legacy = st.Pending
	w.mark = st.Mark
	return w.adoptCheckpoints(st)
}

// RunBatch follows every log until ctx ends, handing the offenders of each
// batch of lines read to onOffenders (see Watcher for the guarantee). It
// saves the state every second while it changes and once more on the way
// out. It returns nil when ctx ends, or the first error that stopped a
// follower or the final save.
func (w *Watcher) RunBatch(ctx context.Context, onOffenders func([]Offender) error) error {
	// No wall-clock expiry before reading: lines logged while the daemon
	// was stopped decide with the history as they would have live.
	w.mu.Lock()
	w.setFloor() // the checkpoints tell how far each log was read
	w.mu.Unlock()
	if err := w.handOverLegacy(ctx, onOffenders); err != nil {
		return err
	}
	// A log that cannot be opened ends the followers already started
	// before RunBatch returns: none of them reads on behind the caller.
	startCtx, abort := context.WithCancel(ctx)
	defer abort()
	g, gctx := errgroup.WithContext(startCtx)
	var startErr error
	for _, l := range w.logs {
		if startErr = w.follow(gctx, g, l, onOffenders); startErr != nil {
			abort()
			break
		}
		defer w.endBackfill(l)
	}
	if startErr == nil {
		g.Go(func() error { return w.maintain(gctx) })
	}
	err := g.Wait()
	if startErr != nil {
		err = startErr
	}
	if saveErr := w.persist(true); saveErr != nil {
		return errors.Join(err, saveErr)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// follow starts, in g, the follower of l, which hands the offenders of
// its lines to onOffenders until ctx ends.
func (w *Watcher) follow(ctx context.Context, g *errgroup.Group, l *followed, onOffenders func([]Offender) error) error {
	f, err := w.source(l)
	if err != nil {
		w.endBackfill(l)
		return err
	}
	g.Go(func() error {
		return f.Run(ctx, func(lines []Line) error {
			if err := ctx.Err(); err != nil {
				return err // stop a long backfill promptly; the batch is read again next time
			}
			return w.process(ctx, l, lines, onOffenders)
		})
	})
	return nil
}

// handOverLegacy hands the offenders an older state file had queued to
// onOffenders, once, before any line is read: their lines are behind the
// saved checkpoint. Saved states stop carrying them from then on.
func (w *Watcher) handOverLegacy(ctx context.Context, onOffenders func([]Offender) error) error {
	w.mu.Lock()
	legacy := w.legacy
	w.mu.Unlock()
	if len(legacy) == 0 {
		return nil
	}
	if err := w.handOver(ctx, legacy, onOffenders); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w.mu.Lock()
	w.legacy, w.dirty = nil, true
	w.mu.Unlock()
	return nil
}

// source returns what reads l: a Follower of its file from where plan
// says, or journalctl for the systemd journal.
func (w *Watcher) source(l *followed) (interface {
	Run(context.Context, func([]Line) error) error
}, error) {
	if IsJournal(l.path) {
		return w.journalSource(l), nil
	}
	plan, err := w.plan(l)
	if err != nil {
		return nil, err
	}
	return NewFollower(FollowConfig{Path: l.file, Start: plan, MaxLine: MaxLineLength, Logger: w.log})
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

// process runs a batch of lines of l through its pipeline, hands its
// offenders to onOffenders and then moves l's checkpoint past the batch.
// It returns an error only when ctx ends before they were accepted.
func (w *Watcher) process(ctx context.Context, l *followed, lines []Line, onOffenders func([]Offender) error) error {
	w.mu.Lock()
	var found []Offender
	for _, line := range lines {
		if o, ok := l.pipe.Line(line.Text); ok {
			found = append(found, o)
		}
	}
	// No save until the checkpoint catches up with the counts, even for a
	// batch without offenders: another goroutine (Forgive) may make the
	// state dirty in between, and a save then would keep these counts
	// with the checkpoint before their lines.
	w.handing++
	w.mu.Unlock()
	if w.afterCount != nil {
		w.afterCount()
	}
	if len(found) > 0 {
		if err := w.handOver(ctx, found, onOffenders); err != nil {
			w.mu.Lock()
			w.handing--
			w.abandoned = true // the saved state re-reads these lines
			w.mu.Unlock()
			return err
		}
	}
	w.mu.Lock()
	w.handing--
	last := lines[len(lines)-1]
	l.cp = &Checkpoint{Log: l.path, File: last.File, Offset: last.Offset, Cursor: last.Cursor, LastBan: l.pipe.stats.LastBan}
	w.dirty = true
	w.setFloor()
	b := l.backfill
	if b != nil && b.read(last) {
		l.backfill = nil
	}
	w.mu.Unlock()
	if b != nil {
		b.report() // outside mu: it may write a log line
	}
	return nil
}

// handOver calls onOffenders with batch until it accepts it, waiting
// between refusals with growing delays, or until ctx ends.
func (w *Watcher) handOver(ctx context.Context, batch []Offender, onOffenders func([]Offender) error) error {
	delay := firstRetry
	for {
		err := onOffenders(batch)
		if err == nil {
			return nil
		}
		w.log.Error("offenders not accepted; reading waits and retries", "count", len(batch), "first", batch[0].Addr, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, maxRetry)
	}
}

// maintain saves the state while it changes and expires old addresses.
func (w *Watcher) maintain(ctx context.Context) error {
	w.mu.Lock() // Reload replaces w.cfg
	newTicker := tick.Or(w.cfg.NewTicker)
	w.mu.Unlock()
	save := newTicker(saveEvery)
	defer save.Stop()
	expire := newTicker(expireEvery)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-save.C():
			if err := w.save(); err != nil {
				// Counting goes on; the next tick tries again, and the final
				// save at shutdown reports a lasting failure.
				w.log.Error("saving watcher state", "err", err)
			}
		case <-expire.C():
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

// snapshotLocked is the state's checkpoints, old queue and counts; w.mu is
// held.
func (w *Watcher) snapshotLocked() savedState {
	st := savedState{Saved: w.cfg.Now().UTC(), Pending: slices.Clone(w.legacy)}
	if w.cfg.Mark != nil {
		st.Mark = w.cfg.Mark()
	}
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

// Mark returns Config.Mark as it was saved with the checkpoints the
// watcher loaded: the bans OnBan heard after it come from lines that will
// be read again. 0 when none was saved (a first start, a lost state).
func (w *Watcher) Mark() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mark
}

// Forgive makes the bans of addresses in p logged at or before at never
// count again (unban); an offender found from them before is Forgiven.
// Safe to call from any goroutine, before or during RunBatch.
func (w *Watcher) Forgive(p netip.Prefix, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracker.Forgive(p, at)
	w.dirty = true
}

// Forgiven reports whether a Forgive covers o (see Tracker.Forgiven): the
// callback drops such an offender, found before its unban. Safe to call
// from any goroutine.
func (w *Watcher) Forgiven(o Offender) bool { return w.tracker.Forgiven(o) }

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
// Safe to call from any goroutine, before or during RunBatch.
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
