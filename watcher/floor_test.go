package watcher

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// feed runs lines (Ban lines of b) of the i-th configured log through the
// watcher as its follower would.
func feed(w *Watcher, i int, bans ...ban) {
	lines := make([]Line, len(bans))
	for j, b := range bans {
		lines[j] = Line{Text: []byte(b.line()), Offset: int64(j + 1)}
	}
	if err := w.process(context.Background(), w.logs[i], lines, func([]Offender) error { return nil }); err != nil {
		panic(err)
	}
}

func TestExpiryFollowsTheLogFurthestBehindNotTheOneAhead(t *testing.T) {
	// Two logs read at once, each at its own pace: "ahead" has reached
	// today while "behind" still catches up on ten days ago. An address
	// with two bans in "behind" must survive whatever "ahead" brings, for
	// its third ban in "behind" is still to come.
	now := time.Now()
	const x = "198.51.100.9"
	t0 := now.Add(-10 * 24 * time.Hour)
	tests := []struct {
		name  string
		ahead func(w *Watcher)
	}{
		{"a_flood_that_sets_off_the_internal_sweeps", func(w *Watcher) {
			var flood []ban
			for i := range 2 * sweepEvery {
				flood = append(flood, ban{now.Add(time.Duration(i) * time.Millisecond), "sshd", netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String()})
			}
			feed(w, 0, flood...)
		}},
		{"a_periodic_expire", func(w *Watcher) {
			feed(w, 0, ban{now, "sshd", "192.0.2.200"})
			w.expire()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, filepath.Join(dir, "ahead.log"), 3, time.Hour)
			cfg.Ignore = nil
			cfg.Logs = append(cfg.Logs, filepath.Join(dir, "behind.log"))
			w := newWatcher(t, cfg)
			feed(w, 1, ban{t0, "sshd", x}, ban{t0.Add(time.Minute), "sshd", x})
			tt.ahead(w)
			if c := tracked(w.Candidates()); c[x] != 2 {
				t.Fatalf("%s tracked with %d bans after the other log moved on, want 2", x, c[x])
			}
			feed(w, 1, ban{t0.Add(2 * time.Minute), "sshd", x})
			if c := tracked(w.Candidates()); c[x] != 0 {
				t.Errorf("%s still tracked with %d bans after its third within the hour, want it an offender", x, c[x])
			}
		})
	}
}

func TestALineStampedInTheFutureDoesNotPushRealBansOutOfTheWindow(t *testing.T) {
	now := time.Now()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "fail2ban.log"), 3, time.Hour)
	w := newWatcher(t, cfg)
	const x = "198.51.100.10"
	feed(w, 0, ban{now.Add(-10 * time.Minute), "sshd", x}, ban{now.Add(-9 * time.Minute), "sshd", x})
	feed(w, 0, ban{time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), "sshd", "192.0.2.99"}) // a wrong clock, or a forged line
	w.expire()
	if c := tracked(w.Candidates()); c[x] != 2 {
		t.Fatalf("%s tracked with %d bans after an expire, want 2: a line in the future is no reason to forget it", x, c[x])
	}
	feed(w, 0, ban{now.Add(-8 * time.Minute), "sshd", x})
	if c := tracked(w.Candidates()); c[x] != 0 {
		t.Errorf("%s tracked with %d bans after three within the hour, want it an offender", x, c[x])
	}
}

func TestALogStillBackfillingWithoutABanYetHoldsEveryExpiry(t *testing.T) {
	// First start on two logs: "ahead" has read an old offence's first two
	// bans and then today's flood, while "behind", still in its backfill,
	// has not brought a single ban yet. Its first may be as old as any.
	now := time.Now()
	const x = "198.51.100.11"
	t0 := now.Add(-10 * 24 * time.Hour)
	dir := t.TempDir()
	cfg := testConfig(t, filepath.Join(dir, "ahead.log"), 3, time.Hour)
	cfg.Logs = append(cfg.Logs, filepath.Join(dir, "behind.log"))
	appendLog(t, cfg.Logs[1], ban{t0.Add(2 * time.Minute), "sshd", x})
	w := newWatcher(t, cfg)
	if _, err := w.plan(w.logs[1]); err != nil {
		t.Fatal(err)
	}
	if w.logs[1].backfill == nil {
		t.Fatal("no backfill under way for the second log; the test proves nothing")
	}
	feed(w, 0, ban{t0, "sshd", x}, ban{t0.Add(time.Minute), "sshd", x})
	var flood []ban
	for i := range 2 * sweepEvery {
		flood = append(flood, ban{now.Add(time.Duration(i) * time.Millisecond), "sshd", netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}).String()})
	}
	feed(w, 0, flood...)
	w.expire()
	if c := tracked(w.Candidates()); c[x] != 2 {
		t.Fatalf("%s tracked with %d bans before the other log brought any, want 2", x, c[x])
	}
	feed(w, 1, ban{t0.Add(2 * time.Minute), "sshd", x})
	if c := tracked(w.Candidates()); c[x] != 0 {
		t.Errorf("%s still tracked with %d bans after its third within the hour, want it an offender", x, c[x])
	}
}
