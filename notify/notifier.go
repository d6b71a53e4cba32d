package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/recidivist/recidivist/internal/tick"
	"golang.org/x/time/rate"
)

// Config is what a Notifier needs (see FromConfig for the keys).
type Config struct {
	StateDir    string
	Exec        []string      // notify-exec: program and arguments
	ExecTimeout time.Duration // notify-exec-timeout
	ExecUser    string        // notify-exec-user
	URL         string        // notify-url
	Format      string        // notify-format
	Headers     http.Header   // notify-header
	RetryFor    time.Duration // notify-retry-for
	GroupWait   time.Duration // notify-group-wait
	GroupMax    int           // notify-group-max
	Rate        rate.Limit    // notify-rate; 0 = unlimited
	Burst       int
	Logger      *slog.Logger
	Metrics     *Metrics
	Client      *http.Client // default: a client with a 30 s timeout
	// FirstRetry and MaxRetry bound the backoff (default 1 s and 30 s).
	FirstRetry, MaxRetry time.Duration
	// StopGrace is how long a send under way when the daemon stops may
	// still take (default 5 s): one that finishes is acknowledged instead
	// of being cut off and sent again after the restart.
	StopGrace time.Duration
}

// Enabled reports whether any sink is configured.
func (c Config) Enabled() bool { return len(c.Exec) > 0 || c.URL != "" }

// queueSize bounds the events waiting for the outbox writer: beyond it an
// event is logged and counted as lost rather than ever making the owner of
// the blocklist wait.
const queueSize = 8192

// Notifier delivers events. A nil *Notifier accepts and drops everything,
// so the daemon calls it unconditionally.
type Notifier struct {
	cfg   Config
	log   *slog.Logger
	m     *Metrics
	in    chan []Event
	wake  chan struct{}
	box   *outbox
	sinks []sink
	lim   *rate.Limiter
	host  string
	state *statusFile
	// ready is closed once Run has opened the outbox (n.box), off once it
	// found it cannot: Record waits for one of them.
	ready, off chan struct{}
}

// New prepares the sinks of cfg. It returns nil (a valid, silent
// Notifier) when no sink is configured. The outbox is opened by Run, which
// only the holder of the state directory's lock (the daemon) calls; Send
// needs no outbox (`recidivist notify test`, beside a running daemon).
func New(cfg Config) (*Notifier, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.FirstRetry <= 0 {
		cfg.FirstRetry = time.Second
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 30 * time.Second
	}
	if cfg.GroupMax <= 0 {
		cfg.GroupMax = 50
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	n := &Notifier{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "notify"),
		m:     cfg.Metrics,
		in:    make(chan []Event, queueSize),
		wake:  make(chan struct{}, 1),
		state: &statusFile{path: StatusPath(cfg.StateDir)},
		ready: make(chan struct{}),
		off:   make(chan struct{}),
	}
	n.host, _ = os.Hostname()
	if len(cfg.Exec) > 0 {
		h, err := newHook(cfg.Exec, cfg.ExecTimeout, cfg.ExecUser)
		if err != nil {
			return nil, err
		}
		n.sinks = append(n.sinks, h)
	}
	if cfg.URL != "" {
		n.sinks = append(n.sinks, &webhook{url: cfg.URL, format: cfg.Format, headers: cfg.Headers, client: cfg.Client})
	}
	if cfg.Rate > 0 {
		n.lim = rate.NewLimiter(cfg.Rate, max(cfg.Burst, 1))
	}
	return n, nil
}

// Enqueue hands events to the notifier without waiting: it never blocks
// the caller (the owner of the blocklist). Events beyond the bounded queue
// are logged and counted, never waited for.
func (n *Notifier) Enqueue(evs ...Event) {
	if n == nil || len(evs) == 0 {
		return
	}
	n.fill(evs)
	select {
	case n.in <- evs:
	default:
		n.m.lost.Add(float64(len(evs)))
		n.log.Error("notification queue full: events not notified", "events", len(evs), "first", evs[0].Prefix)
	}
}

// fill gives evs their id and host, when they have none.
func (n *Notifier) fill(evs []Event) {
	for i := range evs {
		if evs[i].ID == "" {
			evs[i].ID = NewID()
		}
		if evs[i].Host == "" {
			evs[i].Host = n.host
		}
	}
}

// ErrOff is Record's error when the notifier has no outbox to write: it is
// not running (yet, or any more within the wait), or the outbox is
// unreadable.
var ErrOff = errors.New("the notification outbox is not open")

// Record writes evs to the outbox and returns once they are durable, or
// the error that kept them from it; unlike Enqueue it waits, at most
// wait for the outbox to be opened (then ErrOff). The owner calls it
// before it records that it told of a change (the daemon's seen set), so
// that a crash in between finds the change again rather than losing it;
// an event the outbox already holds or sent lately (same id) is not
// written twice.
func (n *Notifier) Record(wait time.Duration, evs ...Event) error {
	if n == nil || len(evs) == 0 {
		return nil
	}
	n.fill(evs)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-n.ready:
	case <-n.off:
		n.m.lost.Add(float64(len(evs)))
		return ErrOff
	case <-t.C:
		n.m.lost.Add(float64(len(evs)))
		return ErrOff
	}
	return n.store(evs)
}

// Run writes enqueued events to the outbox and delivers the outbox until
// ctx ends. Undelivered events stay in the outbox for the next start.
func (n *Notifier) Run(ctx context.Context) error {
	if n == nil {
		return nil
	}
	box, skipped, err := openOutbox(OutboxPath(n.cfg.StateDir), time.Now())
	if err != nil {
		// A side feature: the daemon blocks on without it.
		n.log.Error("notifications are off: the outbox cannot be read", "err", err)
		n.state.failed(err)
		close(n.off)
		return nil
	}
	if skipped > 0 {
		n.log.Warn("dropped unreadable lines of the notification outbox (a write cut short by a crash)", "lines", skipped)
	}
	if box.len() > 0 {
		n.log.Info("notifications left from before the restart will be sent", "events", box.len())
	}
	n.box = box
	close(n.ready)
	n.m.depth.Set(float64(box.len()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.intake(ctx)
	}()
	n.deliverLoop(ctx)
	<-done
	return nil
}

// intake appends each enqueued batch to the outbox. When ctx ends it
// still writes what was enqueued before (the last offenders recorded at
// shutdown), so that the next start sends them.
func (n *Notifier) intake(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case evs := <-n.in:
					_ = n.store(evs) // logged and counted
				default:
					return
				}
			}
		case evs := <-n.in:
			_ = n.store(evs) // logged and counted
		}
	}
}

// store appends evs to the outbox and wakes the delivery.
func (n *Notifier) store(evs []Event) error {
	dropped, err := n.box.append(time.Now(), evs...)
	if err != nil {
		n.m.lost.Add(float64(len(evs)))
		n.log.Error("events not notified: the outbox cannot be written", "events", len(evs), "err", err)
		n.state.failed(err)
		return err
	}
	if dropped > 0 {
		n.log.Info("events already in the outbox or sent lately not queued again", "events", dropped)
	}
	n.m.depth.Set(float64(n.box.len()))
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return nil
}

// deliverLoop sends the outbox, oldest first, in batches.
func (n *Notifier) deliverLoop(ctx context.Context) {
	for ctx.Err() == nil {
		head := n.box.peek(1)
		if len(head) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-n.wake:
			}
			continue
		}
		// notify-group-wait from the oldest event, unless a full batch is
		// there already.
		if n.box.len() < n.cfg.GroupMax {
			if wait := time.Until(head[0].arrived.Add(n.cfg.GroupWait)); wait > 0 {
				if !sleepOrWake(ctx, wait, n.wake) || n.box.len() < n.cfg.GroupMax && time.Now().Before(head[0].arrived.Add(n.cfg.GroupWait)) {
					continue
				}
			}
		}
		held := false
		if n.lim != nil {
			r := n.lim.Reserve()
			if d := r.Delay(); d > 0 {
				held = true
				if !tick.Sleep(ctx, d) {
					r.Cancel()
					return
				}
			}
		}
		b := n.next(held)
		if b.fresh {
			if err := n.box.take(b.taken, b.key, b.fold); err != nil {
				n.log.Error("recording a notification batch in the outbox; after a restart it may go out again under another key", "key", b.key, "err", err)
			}
		}
		if n.deliver(ctx, b) {
			if err := n.box.remove(b.taken); err != nil {
				n.log.Error("removing delivered events from the outbox; they may be sent again", "err", err)
			}
			n.m.depth.Set(float64(n.box.len()))
		}
	}
}

// batch is one notification: the events the sinks get (one summary or
// digest, or the outbox events as they are), the key they get it under
// and how many outbox events it stands for.
type batch struct {
	evs   []Event
	key   string
	fold  string   // KindSummary, KindDigest or "": evs are the outbox events as they are
	taken int      // outbox events it stands for
	done  []string // sinks done with it already (before a restart)
	fresh bool     // not yet recorded in the outbox
}

// next takes the batch to deliver. A batch recorded in the outbox before
// (sent when the daemon stopped or died) goes out again as it was: the
// same events under the same key, to the sinks not yet done with it.
// Otherwise catch-up blocks at the head fold into one summary; after a
// wait for notify-rate everything pending beyond notify-group-max folds
// into one digest (counted as suppressed); else up to notify-group-max
// events as they are.
func (n *Notifier) next(held bool) batch {
	qs := n.box.peek(0)
	now := time.Now()
	if head := qs[0]; head.Batch != "" {
		b := batch{key: head.Batch, fold: head.Fold, done: head.Done}
		for _, q := range qs {
			if q.Batch != head.Batch {
				break
			}
			b.evs = append(b.evs, q.Event)
		}
		b.taken = len(b.evs)
		if b.fold != "" {
			b.evs = []Event{fold(b.fold, b.evs, now, n.host)}
		}
		return b
	}
	b := batch{fresh: true}
	switch {
	case qs[0].CatchUp:
		for _, q := range qs {
			if !q.CatchUp {
				break
			}
			b.evs = append(b.evs, q.Event)
		}
		b.taken = len(b.evs)
		if len(b.evs) > 1 {
			b.fold = KindSummary
		}
	case held && len(qs) > n.cfg.GroupMax:
		for _, q := range qs {
			b.evs = append(b.evs, q.Event)
		}
		b.taken = len(b.evs)
		b.fold = KindDigest
		n.m.suppressed.Add(float64(len(b.evs)))
	default:
		for _, q := range qs[:min(len(qs), n.cfg.GroupMax)] {
			if q.CatchUp {
				break
			}
			b.evs = append(b.evs, q.Event)
		}
		b.taken = len(b.evs)
	}
	if b.fold != "" {
		b.evs = []Event{fold(b.fold, b.evs, now, n.host)}
	}
	b.key = b.evs[0].ID
	if len(b.evs) > 1 {
		b.key = fmt.Sprintf("%s+%d", b.evs[0].ID, len(b.evs)-1)
	}
	return b
}

// deliver sends b to every sink not done with it, retrying each that
// fails with a retryable error until notify-retry-for has passed. While
// another sink is still retried, the outbox records the sinks done with
// b, so that a restart does not send it to them again. It reports false
// only when ctx ended first (the batch stays in the outbox).
func (n *Notifier) deliver(ctx context.Context, b batch) bool {
	start := time.Now()
	delay := n.cfg.FirstRetry
	var pending []sink
	for _, s := range n.sinks {
		if !slices.Contains(b.done, s.name()) {
			pending = append(pending, s)
		}
	}
	for len(pending) > 0 {
		var again []sink
		var done []string
		var wait time.Duration
		for _, s := range pending {
			if ctx.Err() != nil {
				n.recordDone(b, done)
				return false // stopped: the sinks not yet done get it after the restart
			}
			cut, err := n.send(ctx, s, b)
			if err == nil {
				n.m.sent.WithLabelValues(s.name()).Inc()
				n.state.sent()
				done = append(done, s.name())
				continue
			}
			if cut {
				n.recordDone(b, done)
				return false // cut off by the stop: not acknowledged, so it stays in the outbox
			}
			retry, after := retryable(err)
			giveUp := !retry || time.Since(start)+max(after, delay) > n.cfg.RetryFor
			n.state.failed(err)
			if giveUp {
				n.m.failed.WithLabelValues(s.name()).Inc()
				n.log.Error("notification not delivered; giving up", "sink", s.name(), "events", len(b.evs), "key", b.key, "err", err)
				done = append(done, s.name())
				continue
			}
			if ctx.Err() != nil {
				n.recordDone(b, done)
				n.log.Warn("notification not delivered; it is retried after the restart", "sink", s.name(), "err", err)
				return false
			}
			n.m.retried.WithLabelValues(s.name()).Inc()
			n.log.Warn("notification not delivered; retrying", "sink", s.name(), "retry_in", max(after, delay), "err", err)
			again = append(again, s)
			wait = max(wait, after, delay)
		}
		if len(again) == 0 {
			return true
		}
		n.recordDone(b, done)
		if !tick.Sleep(ctx, wait) {
			return false
		}
		delay = min(2*delay, n.cfg.MaxRetry)
		pending = again
	}
	return true
}

// send sends b to s. A send under way when ctx ends may go on for
// StopGrace: a hook that finishes, or a webhook that answers, by then has
// the batch acknowledged (or its failure known) instead of cut off and
// sent again after the restart. cut reports a send cut off that way.
func (n *Notifier) send(ctx context.Context, s sink, b batch) (cut bool, err error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(n.cfg.StopGrace, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	defer stop()
	err = s.send(sctx, b.key, b.evs)
	return err != nil && sctx.Err() != nil, err
}

// recordDone records in the outbox that sinks are done with b, so that a
// restart does not send it to them again.
func (n *Notifier) recordDone(b batch, sinks []string) {
	if len(sinks) == 0 {
		return
	}
	if err := n.box.done(b.taken, sinks...); err != nil {
		n.log.Error("recording the notifiers done with a batch; after a restart they may get it again", "key", b.key, "err", err)
	}
}

// Send tries evs once on every sink, at once and without the outbox, and
// returns the errors of the sinks that failed: `recidivist notify test`.
func (n *Notifier) Send(ctx context.Context, evs ...Event) error {
	if n == nil {
		return errors.New("no notifier configured: set notify-exec or notify-url")
	}
	for i := range evs {
		if evs[i].ID == "" {
			evs[i].ID = NewID()
		}
		if evs[i].Host == "" {
			evs[i].Host = n.host
		}
	}
	var errs []error
	key := evs[0].ID
	for _, s := range n.sinks {
		if err := s.send(ctx, key, evs); err != nil {
			n.m.failed.WithLabelValues(s.name()).Inc()
			errs = append(errs, err)
			continue
		}
		n.m.sent.WithLabelValues(s.name()).Inc()
	}
	return errors.Join(errs...)
}

// sleepOrWake waits d or until woken; false when ctx ended.
func sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
