package watcher

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A save that falls between the counting of a batch without offenders and
// the move of its checkpoint must not keep the counts without the
// checkpoint (an unban, Forgive, may make the state dirty right then): a
// crash then reads the lines again and counts them twice.
func TestASaveBetweenCountingAndTheCheckpointNeverCountsABanTwiceAfterACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	backup := t.TempDir()
	w := newWatcher(t, cfg)
	var once sync.Once
	w.afterCount = func() {
		once.Do(func() {
			// an unban from another goroutine makes the state worth saving
			w.Forgive(netip.MustParsePrefix("198.51.100.9/32"), time.Now())
			if err := w.save(); err != nil {
				t.Error(err)
			}
			// what a crash right now leaves on disk
			for _, name := range []string{StateFile, JournalFile} {
				if b, err := os.ReadFile(filepath.Join(cfg.StateDir, name)); err == nil {
					os.WriteFile(filepath.Join(backup, name), b, 0o600) //nolint:errcheck // checked by the restore below
				}
			}
		})
	}
	appendLog(t, path, ban{time.Now(), "sshd", "203.0.113.5"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.RunBatch(ctx, func([]Offender) error { return nil }) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.Stats().Lines < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not read the lines within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{StateFile, JournalFile} {
		os.Remove(filepath.Join(cfg.StateDir, name))
		if b, err := os.ReadFile(filepath.Join(backup, name)); err == nil {
			if err := os.WriteFile(filepath.Join(cfg.StateDir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	time.Sleep(300 * time.Millisecond)
	if c := tracked(r.w.Candidates()); c["203.0.113.5"] != 1 {
		t.Fatalf("after the crash the one ban counts %d times (%v), want 1", c["203.0.113.5"], c)
	}
}
