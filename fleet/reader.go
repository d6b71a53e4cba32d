package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/recidivist/recidivist/internal/tick"
)

// Reader tails the meeting point's changes and hands every record to Apply
// (the owner of what is blocked, which applies its refusal policy and
// last-writer-wins against its own entries).
//
// It tails from its own cursor only while that exact entry still exists;
// otherwise (first start, a trimmed stream, a meeting point that lost
// data) it takes a Snapshot, applies it, and tails from the cursor taken
// before the snapshot. Records may be handed over twice; never missed.
type Reader struct {
	Fleet Fleet
	// Cursor is the last change applied ("" = none); SaveCursor persists
	// it once Apply returned (nil: not persisted).
	Cursor     string
	SaveCursor func(string) error
	// Apply makes the records durable locally; snapshot says they are a
	// whole snapshot rather than changes. An error stops the Reader's
	// progress: the same records are offered again after a backoff.
	Apply func(ctx context.Context, recs []Record, snapshot bool) error
	Wait  time.Duration // longest blocking read; default 5s
	Log   *slog.Logger

	st status
}

// Status returns the reader's side of the link.
func (r *Reader) Status() Status { return r.st.get() }

// Run tails until ctx ends.
func (r *Reader) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.Wait <= 0 {
		r.Wait = 5 * time.Second
	}
	r.st.update(func(s *Status) { s.Cursor = r.Cursor })
	for fails := 0; ; {
		err := r.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			fails = 0
			continue
		}
		if fails == 0 {
			r.Log.Warn("fleet: reading changes stopped; local blocking goes on, changes are caught up on reconnect", "err", err)
		}
		r.st.connected(false, err)
		if !tick.Sleep(ctx, backoff(fails)) {
			return nil
		}
		fails++
	}
}

func (r *Reader) step(ctx context.Context) error {
	chg, err := r.Fleet.Changes(ctx, r.Cursor, r.Wait, 1000)
	if errors.Is(err, ErrCursorGone) {
		return r.snapshot(ctx)
	}
	if err != nil {
		return err
	}
	r.st.connected(true, nil)
	if len(chg) == 0 {
		return nil
	}
	recs := make([]Record, len(chg))
	for i, c := range chg {
		recs[i] = c.Record
	}
	if err := r.Apply(ctx, recs, false); err != nil {
		return fmt.Errorf("applying %d fleet changes: %w", len(recs), err)
	}
	return r.advance(chg[len(chg)-1].ID, len(recs), false)
}

func (r *Reader) snapshot(ctx context.Context) error {
	start := time.Now()
	snap, err := r.Fleet.Snapshot(ctx)
	if err != nil {
		return err
	}
	r.st.connected(true, nil)
	if err := r.Apply(ctx, snap.Records, true); err != nil {
		return fmt.Errorf("applying a fleet snapshot of %d records: %w", len(snap.Records), err)
	}
	r.Log.Info("fleet: snapshot applied", "records", len(snap.Records), "previous_cursor", r.Cursor, "cursor", snap.Cursor, "took", time.Since(start))
	return r.advance(snap.Cursor, len(snap.Records), true)
}

func (r *Reader) advance(cursor string, n int, snapshot bool) error {
	r.Cursor = cursor
	r.st.update(func(s *Status) {
		s.Cursor, s.Applied, s.LastChange = cursor, s.Applied+n, time.Now()
		if snapshot {
			s.Snapshots++
		}
	})
	if r.SaveCursor == nil {
		return nil
	}
	if err := r.SaveCursor(cursor); err != nil {
		return fmt.Errorf("saving the fleet cursor: %w", err)
	}
	return nil
}
