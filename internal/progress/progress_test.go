package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestReporter_live_line_shows_done_rate_and_eta_on_a_terminal(t *testing.T) {
	var term bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	r := New("backfill", 1000, "lines", Options{Terminal: &term, Now: c.now, Every: time.Second})
	c.t = c.t.Add(500 * time.Millisecond)
	r.Add(100)
	if term.Len() != 0 {
		t.Fatalf("reported before the interval: %q", term.String())
	}
	c.t = c.t.Add(time.Second + 500*time.Millisecond) // 2s in, 250 done
	r.Add(150)
	got := term.String()
	for _, want := range []string{"\rbackfill: 250/1000 lines (25%)", "125 lines/s", "ETA 6s"} {
		if !strings.Contains(got, want) {
			t.Errorf("live line %q lacks %q", got, want)
		}
	}
	r.Done()
	if !strings.HasSuffix(term.String(), "\n") {
		t.Errorf("Done did not end the live line: %q", term.String())
	}
}

func TestReporter_logs_periodic_lines_when_not_on_a_terminal(t *testing.T) {
	var logs bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	r := New("restore", 4000, "entries", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: c.now, Every: 10 * time.Second})
	for i := 0; i < 4; i++ {
		c.t = c.t.Add(5 * time.Second)
		r.Add(1000)
	}
	r.Done()
	out := logs.String()
	if n := strings.Count(out, "msg=\"restore progress\""); n != 2 {
		t.Errorf("want 2 progress lines in 20s at one per 10s, got %d:\n%s", n, out)
	}
	for _, want := range []string{"done=2000", "total=4000", "rate_per_s=200", "eta=10s", "msg=\"restore done\"", "done=4000"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestReporter_quick_work_prints_nothing(t *testing.T) {
	var logs, term bytes.Buffer
	r := New("restore", 10, "entries", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r.Add(10)
	r.Done()
	if logs.Len() != 0 || term.Len() != 0 {
		t.Errorf("quick work reported: %q %q", logs.String(), term.String())
	}
}
