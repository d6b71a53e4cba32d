package watcher

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestTrackedCountsTheTrackedAddressesWhileRunGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	now := time.Now()
	r := startWatcher(t, cfg, nil)
	// A collector polls Tracked from its own goroutine while the follower
	// counts bans (run with -race to prove the two may overlap).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var polls, most int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := r.w.Tracked()
			polls++
			most = max(most, n)
			time.Sleep(100 * time.Microsecond)
		}
	})
	// 50 addresses with one ban each, then 10 of them twice more: those
	// become offenders and leave the tracker.
	var bans []ban
	for i := range 50 {
		bans = append(bans, ban{now, "sshd", fmt.Sprintf("192.0.2.%d", i+1)})
	}
	appendLog(t, path, bans...)
	r.waitLines(t, 100)
	for range 2 {
		bans = bans[:0]
		for i := range 10 {
			bans = append(bans, ban{now.Add(time.Second), "sshd", fmt.Sprintf("192.0.2.%d", i+1)})
		}
		appendLog(t, path, bans...)
	}
	r.waitOffenders(t, 10)
	close(stop)
	wg.Wait()
	if got, cands := r.w.Tracked(), len(r.w.Candidates()); got != 40 || cands != 40 {
		t.Errorf("Tracked() = %d, Candidates has %d, want 40 each (50 addresses, 10 became offenders)", got, cands)
	}
	if polls == 0 || most < 40 || most > 50 {
		t.Errorf("the collector polled %d times and saw at most %d tracked, want some polls and 40..50", polls, most)
	}
}
