package watcher

import (
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// banCounter is an OnBan hook and a Mark: the number of bans heard.
type banCounter struct {
	mu   sync.Mutex
	bans []Ban
}

func (c *banCounter) onBan(b Ban) { c.mu.Lock(); c.bans = append(c.bans, b); c.mu.Unlock() }
func (c *banCounter) mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.bans))
}

func TestOnBanHearsEachCountedBanAndTheMarkIsSavedWithTheCheckpoint(t *testing.T) {
	for _, final := range []bool{true, false} { // a clean stop writes the whole state; a running one, journal records
		name := map[bool]string{true: "saved_by_a_clean_stop", false: "saved_in_the_journal_while_running"}[final]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fail2ban.log")
			cfg := testConfig(t, path, 3, time.Hour)
			cfg.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			var c banCounter
			cfg.OnBan, cfg.Mark = c.onBan, c.mark
			now := time.Now()
			appendLog(t, path, ban{now, "sshd", "203.0.113.5"}, ban{now, "recidive", "203.0.113.5"}, // excluded jail
				ban{now, "sshd", "192.0.2.1"}, // ignored
				ban{now.Add(time.Second), "postfix", "203.0.113.6"})
			r := startWatcher(t, cfg, nil)
			r.waitLines(t, 8)
			if got := c.mark(); got != 2 {
				t.Fatalf("OnBan heard %d bans (%v), want the 2 countable ones that pass the filter", got, c.bans)
			}
			if final {
				r.stop(t)
			} else {
				deadline := time.Now().Add(30 * time.Second)
				for journalMark(t, cfg) != 2 {
					if time.Now().After(deadline) {
						t.Fatal("no journal record with the mark 2 within 30 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
				r.stop(t)
			}
			w := newWatcher(t, cfg)
			if got := w.Mark(); got != 2 {
				t.Fatalf("Mark after a restart = %d, want 2", got)
			}
		})
	}
}

// journalMark is the mark of the state as loaded now (base and journal).
func journalMark(t *testing.T, cfg Config) uint64 {
	t.Helper()
	st, _, _, err := loadStateAndJournal(cfg.StateDir, NewTracker(cfg.Threshold, cfg.Window))
	if err != nil {
		return 0
	}
	return st.Mark
}
