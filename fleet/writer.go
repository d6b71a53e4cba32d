package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/recidivist/recidivist/internal/tick"
)

// Outbox is a host's durable history of what it shares, in order: its
// countable bans and its own blocks and unbans. The daemon keeps it on disk,
// so a backlog costs no memory and survives restarts.
type Outbox interface {
	// After returns up to n items with Seq greater than seq, in order.
	After(seq uint64, n int) ([]Item, error)
	// Last is the Seq of the newest item (0 when empty).
	Last() (uint64, error)
	// Rewind is the position to push from again after the meeting point
	// lost writes: every item that can still matter (bans inside the
	// window ending at now) comes after it.
	Rewind(window time.Duration, now time.Time) (uint64, error)
}

// Item is one entry of an Outbox: an Event or a Record.
type Item struct {
	Seq    uint64
	Event  *Event
	Record *Record
}

// Writer pushes a host's Outbox to the meeting point, one goroutine beside
// enforcement: it never blocks anything local, it only falls behind.
//
// Every write carries the acknowledgement the writer last saw, and the
// meeting point refuses it (ErrLost) when it holds less: it lost writes (a
// restart without persistence, a failover under asynchronous replication),
// even when the client reconnected without an error. The writer then
// rewinds the outbox to the window's start and pushes the local mirror
// again. Every write is idempotent, so the replay is safe. Before each
// batch, and when idle, it probes the acknowledgement too, so a loss is
// repaired even when there is nothing new to push.
type Writer struct {
	Fleet  Fleet
	Host   string
	Outbox Outbox
	// Pushed is the checkpoint to start from; Save persists it after each
	// batch (nil: not persisted).
	Pushed uint64
	Save   func(uint64) error
	// Mirror returns the local blocks and tombstones, pushed again after a
	// loss.
	Mirror func() ([]Record, error)
	Window time.Duration
	// Rule, when set, is stored if the meeting point has none (after a
	// restart without persistence); a different stored rule is kept and
	// reported.
	Rule *Rule
	// Kick, when it receives, says the outbox grew; without it the Writer
	// looks every Idle.
	Kick <-chan struct{}
	Idle time.Duration // default 1s
	Log  *slog.Logger  // default slog.Default()
	// SweepEvery is how often the writer drops the records the fleet no
	// longer needs (Sweeper, with Window), when its Fleet can; default 1h,
	// negative never.
	SweepEvery time.Duration

	swept time.Time // last sweep

	acked uint64 // the meeting point's acknowledgement of this host, as last seen
	st    status
}

// Status returns the writer's side of the link.
func (w *Writer) Status() Status { return w.st.get() }

// Run pushes until ctx ends; failures are logged and retried with backoff.
func (w *Writer) Run(ctx context.Context) error {
	if w.Log == nil {
		w.Log = slog.Default()
	}
	if w.Idle <= 0 {
		w.Idle = time.Second
	}
	w.st.update(func(s *Status) { s.Pushed = w.Pushed })
	for fails := 0; ; fails++ {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if fails == 0 {
			w.Log.Warn("fleet: pushing stopped; local blocking goes on, the backlog is pushed on reconnect", "err", err)
		}
		w.st.connected(false, err)
		w.noteBacklog()
		if !tick.Sleep(ctx, backoff(fails)) {
			return nil
		}
		if w.probe(ctx) == nil {
			fails = -1
		}
	}
}

// probe is a cheap call that says whether the meeting point answers.
func (w *Writer) probe(ctx context.Context) error {
	_, err := w.Fleet.Acked(ctx, w.Host)
	return err
}

func (w *Writer) session(ctx context.Context) error {
	t := time.NewTimer(w.Idle)
	defer t.Stop()
	for {
		if err := w.checkAck(ctx); err != nil {
			return err
		}
		w.st.connected(true, nil)
		n, err := w.batch(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		w.sweep(ctx)
		t.Reset(w.Idle)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Kick:
		case <-t.C:
		}
	}
}

// sweep runs the Sweeper when it is due; a failure is logged and retried
// at the next due time (nothing depends on it but Redis's memory).
func (w *Writer) sweep(ctx context.Context) {
	s, ok := w.Fleet.(Sweeper)
	every := w.SweepEvery
	if every == 0 {
		every = time.Hour
	}
	if !ok || every < 0 || w.Window <= 0 || time.Since(w.swept) < every {
		return
	}
	w.swept = time.Now()
	n, err := s.Sweep(ctx, w.swept, w.Window)
	if err != nil {
		w.Log.Warn("fleet: dropping expired blocks and old unbans from the meeting point", "err", err)
		return
	}
	if n > 0 {
		w.Log.Info("fleet: dropped expired blocks and unbans older than the window", "records", n)
	}
}

// checkAck rewinds when the meeting point no longer holds this host's last
// acknowledged write.
func (w *Writer) checkAck(ctx context.Context) error {
	if w.Rule != nil {
		if _, err := w.Fleet.Init(ctx, *w.Rule, false); errors.Is(err, ErrRuleDiffers) {
			w.Log.Warn("fleet: the fleet's rule differs from this host's; the fleet's counts", "err", err)
		} else if err != nil {
			return err
		}
	}
	acked, err := w.Fleet.Acked(ctx, w.Host)
	if err != nil {
		return err
	}
	if acked >= w.Pushed {
		w.acked = max(w.acked, acked)
		return nil
	}
	w.acked = acked
	from, err := w.Outbox.Rewind(w.Window, time.Now())
	if err != nil {
		return fmt.Errorf("rewinding the outbox: %w", err)
	}
	recs, err := w.Mirror()
	if err != nil {
		return fmt.Errorf("reading the mirror to push it again: %w", err)
	}
	for _, r := range recs {
		if _, err := w.Fleet.PutRecord(ctx, r, 0, w.acked); err != nil {
			return err
		}
	}
	w.Log.Warn("fleet: the meeting point lost writes of this host; pushing them again",
		"acknowledged", acked, "pushed", w.Pushed, "rewound_to", from, "mirror_records", len(recs))
	w.Pushed = min(from, w.Pushed)
	w.st.update(func(s *Status) { s.Rewinds++; s.RePushed += len(recs); s.Pushed = w.Pushed })
	return w.save()
}

func (w *Writer) save() error {
	if w.Save == nil {
		return nil
	}
	if err := w.Save(w.Pushed); err != nil {
		return fmt.Errorf("saving the fleet checkpoint: %w", err)
	}
	return nil
}

// batch pushes what the outbox holds after the checkpoint, up to 512 items.
func (w *Writer) batch(ctx context.Context) (int, error) {
	items, err := w.Outbox.After(w.Pushed, 512)
	if err != nil {
		return 0, fmt.Errorf("reading the outbox: %w", err)
	}
	for _, it := range items {
		switch {
		case it.Event != nil:
			e := *it.Event
			e.Seq = it.Seq
			if _, err := w.Fleet.PushEvent(ctx, e, w.acked); err != nil {
				return 0, err
			}
		case it.Record != nil:
			if _, err := w.Fleet.PutRecord(ctx, *it.Record, it.Seq, w.acked); err != nil {
				return 0, err
			}
		}
		w.Pushed = it.Seq
		w.acked = max(w.acked, it.Seq)
	}
	w.noteBacklog()
	if len(items) > 0 {
		return len(items), w.save()
	}
	return 0, nil
}

// noteBacklog updates Pushed and Backlog in the status.
func (w *Writer) noteBacklog() {
	last, err := w.Outbox.Last()
	if err != nil {
		w.Log.Warn("fleet: reading the outbox", "err", err)
		return
	}
	w.st.update(func(s *Status) {
		s.Pushed = w.Pushed
		s.Backlog = 0
		if last > w.Pushed {
			s.Backlog = last - w.Pushed
		}
	})
}
