package tick

import (
	"testing"
	"time"
)

func TestManualTicksOnlyTheTickerOfTheIntervalAsked(t *testing.T) {
	var m Manual
	fast, slow := m.New(time.Second), m.New(time.Minute)
	got := make(chan time.Duration, 2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-fast.C():
				got <- time.Second
			case <-slow.C():
				got <- time.Minute
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	if err := m.Tick(time.Minute, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d != time.Minute {
		t.Errorf("Tick(1m) ticked the %v ticker", d)
	}
	slow.Reset(time.Hour)
	if err := m.Tick(time.Minute, 10*time.Millisecond); err == nil {
		t.Error("Tick(1m) after the ticker was reset to 1h succeeded, want an error naming the interval")
	}
	fast.Stop()
	if err := m.WaitFor(time.Second, 10*time.Millisecond); err == nil {
		t.Error("a stopped ticker is still found")
	}
	if err := m.WaitFor(time.Hour, 5*time.Second); err != nil {
		t.Error(err)
	}
}
