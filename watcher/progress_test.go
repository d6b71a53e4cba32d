package watcher

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/progress"
	"github.com/recidivist/recidivist/internal/testenv"
)

// steppingClock moves on by step at every reading, so that the progress
// interval passes after a known number of reports, whatever the machine.
type steppingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *steppingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// writeBenchLog writes n realistic lines (benchLines' mix) to path.
func writeBenchLog(t *testing.T, path string, n int) int64 {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range benchLines("native", n, time.UTC) {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return int64(buf.Len())
}

// progressOptions report on a fake terminal and in log lines, every
// 100ms of a clock that moves 10ms per reading.
func progressOptions(term, logs *testenv.Buffer) progress.Options {
	clock := &steppingClock{t: time.Unix(1_800_000_000, 0), step: 10 * time.Millisecond}
	return progress.Options{Terminal: term, Logger: slog.New(slog.NewTextHandler(logs, nil)), Every: 100 * time.Millisecond, Now: clock.now}
}

func TestABigBackfillReportsItsProgressAndATinyOneNothing(t *testing.T) {
	t.Run("big_backfill_of_rotated_and_current_logs_reports_bytes_rate_and_eta", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "fail2ban.log")
		total := writeBenchLog(t, path+".2", 20_000)
		gzipFile(t, path+".2")
		total += writeBenchLog(t, path+".1", 20_000)
		total += writeBenchLog(t, path, 20_000)
		var term, logs testenv.Buffer
		cfg := testConfig(t, path, 3, 365*24*time.Hour)
		cfg.Progress = progressOptions(&term, &logs)
		r := startWatcher(t, cfg, nil)
		r.waitLines(t, 60_000)
		// The backfill ends when the current file is read, not when Run
		// stops: the live line is completed while the watcher follows on.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.HasSuffix(term.String(), "\n") {
			if time.Now().After(deadline) {
				t.Fatalf("the backfill was read but its report not ended: %q", term.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.stop(t)
		out := term.String()
		final := fmt.Sprintf("backfill of %s: %d/%d bytes (100%%)", path, total, total)
		for _, want := range []string{"\rbackfill of " + path + ": ", " bytes/s, ETA ", final} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal output lacks %q:\n%q", want, out)
			}
		}
		if n := strings.Count(out, "\r"); n < 3 {
			t.Errorf("%d reports for 3 files of 64 KiB reads at 10ms each, want several:\n%q", n, out)
		}
		if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Errorf("the live line is not ended exactly once, at the end: %q", out)
		}
		if logs.String() != "" {
			t.Errorf("progress went to the log although a terminal was given: %s", logs.String())
		}
	})
	t.Run("tiny_backfill_reports_nothing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fail2ban.log")
		appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.1"})
		var term, logs testenv.Buffer
		cfg := testConfig(t, path, 3, time.Hour)
		cfg.Progress = progressOptions(&term, &logs)
		r := startWatcher(t, cfg, nil)
		r.waitLines(t, 2)
		appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.2"}) // following, no longer backfilling
		r.waitLines(t, 4)
		r.stop(t)
		if term.String() != "" || logs.String() != "" {
			t.Errorf("a one-batch backfill reported %q on the terminal and %q in the log, want nothing", term.String(), logs.String())
		}
	})
	t.Run("a_restart_that_resumes_from_its_checkpoint_is_no_backfill", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fail2ban.log")
		writeBenchLog(t, path, 1_000)
		cfg := testConfig(t, path, 3, 365*24*time.Hour)
		r := startWatcher(t, cfg, nil)
		r.waitLines(t, 1_000)
		r.stop(t)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range benchLines("native", 20_000, time.UTC) {
			f.Write(append(l, '\n'))
		}
		f.Close()
		var term, logs testenv.Buffer
		cfg.Progress = progressOptions(&term, &logs)
		r = startWatcher(t, cfg, nil)
		r.waitLines(t, 21_000)
		r.stop(t)
		if term.String() != "" || logs.String() != "" {
			t.Errorf("resuming at the checkpoint reported %q / %q, want nothing", term.String(), logs.String())
		}
	})
}

func TestScanWithProgressReportsTheBytesOfEveryFileAndDecidesTheSame(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "fail2ban.log.1")
	total := writeBenchLog(t, old, 20_000)
	gzipCopy(t, old, old+".gz")
	cur := filepath.Join(dir, "fail2ban.log")
	total += writeBenchLog(t, cur, 100_000) // several reads
	sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), threshold: 3, window: 7 * 24 * time.Hour}
	for _, tc := range []struct {
		name string
		opt  func(term, logs *testenv.Buffer) *progress.Options
		want func(t *testing.T, term, logs string)
	}{
		{"on_a_terminal_a_live_line_ends_at_100_percent", func(term, logs *testenv.Buffer) *progress.Options {
			o := progressOptions(term, logs)
			return &o
		}, func(t *testing.T, term, logs string) {
			if want := fmt.Sprintf("\rscan: %d/%d bytes (100%%)", total, total); !strings.Contains(term, want) || !strings.HasSuffix(term, "\n") {
				t.Errorf("terminal %q lacks the final %q", term, want)
			}
		}},
		{"without_a_terminal_log_lines", func(term, logs *testenv.Buffer) *progress.Options {
			o := progressOptions(term, logs)
			o.Terminal = nil
			return &o
		}, func(t *testing.T, term, logs string) {
			if !strings.Contains(logs, `msg="scan progress"`) || !strings.Contains(logs, fmt.Sprintf(`msg="scan done" done=%d total=%d`, total, total)) {
				t.Errorf("log lines lack progress and done:\n%s", logs)
			}
		}},
		{"without_options_nothing", func(term, logs *testenv.Buffer) *progress.Options { return nil }, func(t *testing.T, term, logs string) {
			if term != "" || logs != "" {
				t.Errorf("reported %q / %q without Progress", term, logs)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var term, logs testenv.Buffer
			want := lineByLine(t, sp, old+".gz", cur)
			p := sp.pipeline()
			var got []Offender
			if err := ScanFilesWith(context.Background(), []string{old + ".gz", cur}, p, func(o Offender) { got = append(got, o) }, ScanOptions{Progress: tc.opt(&term, &logs)}); err != nil {
				t.Fatal(err)
			}
			requireSame(t, tc.name, want, scanResult{offenders: got, stats: p.Stats()})
			tc.want(t, term.String(), logs.String())
		})
	}
}
