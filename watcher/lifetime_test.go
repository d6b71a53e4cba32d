package watcher

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunBatchThatCannotOpenALaterLogLeavesNoFollowerOfTheEarlierOnesRunning(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "fail2ban.log")
	notDir := filepath.Join(dir, "not-a-directory")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, good, 3, time.Hour)
	cfg.Logs = []string{good, filepath.Join(notDir, "fail2ban.log")}
	appendLog(t, good)
	w := newWatcher(t, cfg)
	var handed atomic.Int32
	err := w.RunBatch(context.Background(), func(batch []Offender) error {
		handed.Add(int32(len(batch)))
		return nil
	})
	if err == nil {
		t.Fatal("RunBatch with a log under a regular file returned nil, want the error that kept it from opening")
	}

	// RunBatch has returned: nothing of it may read the first log any more.
	now := time.Now()
	appendLog(t, good, ban{now, "sshd", "192.0.2.7"}, ban{now, "sshd", "192.0.2.7"}, ban{now, "sshd", "192.0.2.7"})
	deadline := time.Now().Add(time.Second) // time enough for a leaked follower to read them, many times over
	for time.Now().Before(deadline) {
		if n := w.Stats().Lines; n != 0 || handed.Load() != 0 {
			t.Fatalf("after RunBatch returned %v, %d lines were still counted and %d offenders handed over; want none", err, n, handed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
