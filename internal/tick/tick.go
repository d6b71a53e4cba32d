// Package tick gives the daemon's periodic loops (the reconcile interval,
// the watcher's saves and expiry) their tickers through a function that
// tests replace, so that a test of "every interval" ticks by hand instead
// of sleeping through intervals.
package tick

import (
	"context"
	"time"
)

// Ticker is what a loop needs of a time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	// Reset makes the ticker tick every d from now on.
	Reset(d time.Duration)
	Stop()
}

// New makes a Ticker that ticks every d.
type New func(d time.Duration) Ticker

// Real is New of the wall clock: a time.Ticker.
func Real(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// Or returns n, or Real when n is nil.
func Or(n New) New {
	if n == nil {
		return Real
	}
	return n
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTicker) Stop()                 { r.t.Stop() }

// Sleep waits d, or until ctx ends; it reports whether the whole d passed.
// It is the wait between retries of the loops that back off.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
