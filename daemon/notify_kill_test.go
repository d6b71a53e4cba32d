package daemon

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/notify"
)

// copyState copies the regular files of the state directory src to dst:
// what a SIGKILL at that instant leaves on disk (every write the daemon
// made so far is fsynced or renamed into place).
func copyState(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		switch {
		case de.IsDir():
			return os.MkdirAll(to, 0o700)
		case de.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o600)
		}
		return nil // sockets, links: not state
	})
	if err != nil {
		t.Fatalf("copying the state directory: %v", err)
	}
}

func TestDaemon_a_block_killed_anywhere_in_its_recording_is_notified_once_with_its_reason(t *testing.T) {
	for _, tc := range []struct {
		name string
		step string // the recorder's write after which the daemon dies
		// delivered: the first daemon's sink acknowledged the event before
		// the kill.
		delivered bool
	}{
		{name: "killed after the mirror write", step: "mirror"},
		{name: "killed after the outbox write", step: "notify"},
		{name: "killed after the outbox write and an acknowledged send", step: "notify", delivered: true},
		{name: "killed after the seen set write", step: "seen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := filepath.Join(t.TempDir(), "state")
			h := newHarness(t, nil)
			first := recordNotifications(h)
			h.notify.GroupWait = time.Hour // nothing goes out before the kill…
			if tc.delivered {
				h.notify.GroupWait = 10 * time.Millisecond // …unless this case wants it to
			}
			var once sync.Once
			taken := make(chan struct{})
			h.step = func(name string) {
				if name != tc.step {
					return
				}
				once.Do(func() {
					if tc.delivered {
						// acknowledged: the sink took it and the outbox recorded that
						h.eventually("the send before the kill", func() bool {
							st, err := notify.ReadStatus(h.cfg.StateDir)
							return len(first.calls()) >= 1 && err == nil && st.Outbox == 0
						})
					}
					copyState(t, h.cfg.StateDir, snap)
					close(taken)
				})
			}
			h.start()
			now := time.Now()
			for range 3 {
				h.ban(now, "sshd", "192.0.2.41")
			}
			select {
			case <-taken:
			case <-time.After(30 * time.Second):
				t.Fatalf("the recorder never reached the step %q", tc.step)
			}
			h.stop()
			before := len(first.calls())

			// The restart, on what the kill left.
			h2 := newHarness(t, func(c *config.Config) { c.StateDir = snap })
			h2.cfg.Logs, h2.log = h.cfg.Logs, h.log
			second := recordNotifications(h2)
			h2.start()
			if before == 0 {
				h2.eventually("the block's notification after the restart", func() bool { return len(second.calls()) >= 1 })
			}
			second.quiet(1-before, "the restart")
			var got []string
			for _, c := range append(first.calls(), second.calls()...) {
				got = append(got, kinds(c)...)
			}
			if want := []string{"block/auto 192.0.2.41/32"}; !slices.Equal(got, want) {
				t.Errorf("notified %v over the kill and the restart, want %v once", got, want)
			}
		})
	}
}

func TestReasonOf_an_entry_found_unnotified_gives_the_reason_of_its_writer(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    blocklist.Entry
		want string
	}{
		{"the recorder's line (bans, jails, time) is auto", blocklist.Entry{Added: at, Bans: 3, Jails: []string{"sshd"}}, notify.ReasonAuto},
		{"ban's line is manual", blocklist.Entry{Added: at, Manual: true}, notify.ReasonManual},
		{"a fleet record's line is fleet", fleetEntry(fleet.Record{Version: at, Bans: 3, Jails: []string{"sshd"}, Host: "b"}), notify.ReasonFleet},
		{"an escalated range is escalation", blocklist.Entry{Added: at, Net: true, Bans: 9}, notify.ReasonEscalation},
		{"a bare line written by hand is manual", blocklist.Entry{}, notify.ReasonManual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasonOf(tc.e); got != tc.want {
				t.Errorf("reasonOf(%+v) = %q, want %q", tc.e, got, tc.want)
			}
		})
	}
}
