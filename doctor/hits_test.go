package doctor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/statedir"
)

func TestDoctor_reports_the_hit_record_and_what_idle_unblock_removes(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, w *world)
		warnings int
		want     string
	}{
		{"no_record_yet_is_a_note", func(*testing.T, *world) {}, 0,
			"note     hits: not sampled yet (the daemon samples every 15m0s)"},
		{"a_garbled_record_is_a_warning_with_its_line", func(t *testing.T, w *world) {
			write(t, statedir.Hits(w.cfg.StateDir), "what is this\n")
		}, 1, "fix: rm " + "STATE/hits"},
		{"idle_unblock_counts_the_automatic_blocks_idle_that_long", func(t *testing.T, w *world) {
			w.cfg.IdleUnblock = 30 * day
			w.doctor.now = time.Now().Add(40 * day) // the automatic block added now is idle 40 days; the manual one is exempt
			write(t, statedir.Hits(w.cfg.StateDir), fmt.Sprintf("# recidivist hits v1 sampled=%d\n", w.doctor.now.Unix()))
		}, 0, "note     idle-unblock 30d: 1 blocks not hit for that long go at the next sample (recidivist list --idle 30d lists them)"},
		{"a_record_a_running_daemon_does_not_update_is_a_warning", func(t *testing.T, w *world) {
			write(t, statedir.Hits(w.cfg.StateDir), fmt.Sprintf("# recidivist hits v1 sampled=%d\n", time.Now().Add(-5*time.Hour).Unix()))
			lock, err := statedir.Acquire(w.cfg.StateDir, w.cfg.SetName)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lock.Release() })
		}, 1, "the counters are not being sampled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(t, w)
			problems := w.run()
			out := strings.ReplaceAll(w.out.String(), w.cfg.StateDir, "STATE")
			if w.doctor.warnings != tc.warnings || !strings.Contains(out, tc.want) {
				t.Errorf("%d warnings, output:\n%s\nwant %d warnings and %q", w.doctor.warnings, out, tc.warnings, tc.want)
			}
			if problems != 0 {
				t.Errorf("%d problems; the hit record never stops blocking:\n%s", problems, out)
			}
		})
	}
}
