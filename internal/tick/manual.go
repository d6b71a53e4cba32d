package tick

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Manual hands out tickers that tick only when a test says so. Its New
// may be given to several loops; each ticker is found by its interval.
type Manual struct {
	mu      sync.Mutex
	tickers []*manualTicker
	changed chan struct{} // closed and replaced at every New, Reset and Stop
}

type manualTicker struct {
	m        *Manual
	c        chan time.Time
	interval time.Duration
	stopped  bool
}

// New is a tick.New whose tickers tick on Tick.
func (m *Manual) New(d time.Duration) Ticker {
	t := &manualTicker{m: m, c: make(chan time.Time), interval: d}
	m.mu.Lock()
	m.tickers = append(m.tickers, t)
	m.notifyLocked()
	m.mu.Unlock()
	return t
}

func (m *Manual) notifyLocked() {
	if m.changed != nil {
		close(m.changed)
	}
	m.changed = make(chan struct{})
}

// Intervals lists the intervals of the tickers in use (not stopped).
func (m *Manual) Intervals() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	for _, t := range m.tickers {
		if !t.stopped {
			out = append(out, t.interval)
		}
	}
	return out
}

// WaitFor waits up to timeout until a ticker of interval d is in use.
func (m *Manual) WaitFor(d time.Duration, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		changed := m.changed
		m.mu.Unlock()
		if slices.Contains(m.Intervals(), d) {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("no ticker of interval %v within %v; in use: %v", d, timeout, m.Intervals())
		}
	}
}

// Tick delivers one tick to the ticker of interval d and returns once its
// loop has received it, or an error after timeout (no such ticker, or its
// loop does not receive).
func (m *Manual) Tick(d time.Duration, timeout time.Duration) error {
	if err := m.WaitFor(d, timeout); err != nil {
		return err
	}
	m.mu.Lock()
	var t *manualTicker
	for _, c := range m.tickers {
		if !c.stopped && c.interval == d {
			t = c
		}
	}
	m.mu.Unlock()
	select {
	case t.c <- time.Now():
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the loop of the %v ticker took no tick within %v", d, timeout)
	}
}

func (t *manualTicker) C() <-chan time.Time { return t.c }

func (t *manualTicker) Reset(d time.Duration) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.interval = d
	t.m.notifyLocked()
}

func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.stopped = true
	t.m.notifyLocked()
}
