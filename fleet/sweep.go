package fleet

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sweeper drops the records the fleet no longer needs (the retention rule
// of doc.go). A Writer sweeps every SweepEvery when its Fleet is one.
// Several hosts sweeping at once is harmless: a record is deleted only if
// it is still the one that was judged.
type Sweeper interface {
	// Sweep deletes the records Expendable at now with the fleet's
	// window, and says how many.
	Sweep(ctx context.Context, now time.Time, window time.Duration) (int, error)
}

// Expendable reports whether the fleet no longer needs rec at now: a block
// whose ban-time expiry has passed (every host expires it by itself, at
// the same expires=), or an unban tombstone older than one window (the
// events it forgave were deleted with it, and any ban logged before it is
// older than a window before any ban logged now).
func Expendable(rec Record, now time.Time, window time.Duration) bool {
	switch rec.State {
	case Block:
		return !rec.Expires.IsZero() && !rec.Expires.After(now)
	case Unban:
		return window > 0 && rec.Version.Before(now.Add(-window))
	}
	return false
}

var (
	//go:embed sweep.lua
	sweepSrc    string
	sweepScript = redis.NewScript(sweepSrc)
)

// Sweep implements Sweeper: HSCAN the blocklist, then compare-and-delete
// the expendable records in batches.
func (r *Redis) Sweep(ctx context.Context, now time.Time, window time.Duration) (int, error) {
	var batch []any
	deleted := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := sweepScript.Run(ctx, r.c, []string{r.keys.bl}, batch...).Int()
		if err != nil {
			return fmt.Errorf("sweeping %s: %w", r.keys.bl, err)
		}
		deleted += n
		batch = batch[:0]
		return nil
	}
	iter := r.c.HScan(ctx, r.keys.bl, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		field := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		raw := iter.Val()
		rec, err := decodeRecord(field, raw)
		if err != nil || !Expendable(rec, now, window) {
			continue // a record this version cannot read is not its to judge
		}
		if batch = append(batch, field, raw); len(batch) >= 1000 {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, fmt.Errorf("scanning %s: %w", r.keys.bl, err)
	}
	return deleted, flush()
}

// Sweep implements Sweeper.
func (h *memoryHost) Sweep(_ context.Context, now time.Time, window time.Duration) (int, error) {
	if err := h.lock(); err != nil {
		return 0, err
	}
	defer h.m.mu.Unlock()
	n := 0
	for f, rec := range h.m.bl {
		if Expendable(rec, now, window) {
			delete(h.m.bl, f)
			n++
		}
	}
	return n, nil
}
