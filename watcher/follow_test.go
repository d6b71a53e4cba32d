package watcher

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// banLine is a genuine fail2ban 1.0.2 Ban line (shape of
// shared/corpus/fail2ban-1.0.2.log) for the n-th address of a test.
func banLine(at time.Time, jail string, n int) string {
	return fmt.Sprintf("%s fail2ban.actions        [9091]: NOTICE  [%s] Ban 192.0.2.%d",
		at.Format("2006-01-02 15:04:05,000"), jail, n%250+1)
}

// logWriter writes a log the way fail2ban's FileHandler does: O_APPEND,
// one write per line, the file kept open until told to reopen.
type logWriter struct {
	t    *testing.T
	path string
	f    *os.File
	n    int
	base time.Time
	sent []string
}

func newLogWriter(t *testing.T, path string) *logWriter {
	t.Helper()
	w := &logWriter{t: t, path: path, base: time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)}
	w.reopen()
	t.Cleanup(func() { w.f.Close() })
	return w
}

// reopen closes the file and opens (creating) path again, as flushlogs does.
func (w *logWriter) reopen() {
	w.t.Helper()
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.t.Fatal(err)
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

// raw writes s as is, without recording it as a line.
func (w *logWriter) raw(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.f, s); err != nil {
		w.t.Fatal(err)
	}
}

// line writes text and its newline and records it as expected.
func (w *logWriter) line(text string) {
	w.t.Helper()
	w.raw(text + "\n")
	w.sent = append(w.sent, text)
}

// bans writes k Ban lines with fresh times and addresses.
func (w *logWriter) bans(k int) {
	w.t.Helper()
	for range k {
		w.n++
		w.line(banLine(w.base.Add(time.Duration(w.n)*time.Second), "sshd", w.n))
	}
}

// collector gathers what a Follower delivers.
type collector struct {
	mu    sync.Mutex
	lines []Line // Text copied
}

func (c *collector) emit(batch []Line) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range batch {
		l.Text = append([]byte(nil), l.Text...)
		c.lines = append(c.lines, l)
	}
	return nil
}

func (c *collector) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.lines))
	for i, l := range c.lines {
		out[i] = string(l.Text)
	}
	return out
}

// waitFor waits until at least n lines arrived, then a little longer so
// that a duplicate would show.
func (c *collector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.texts()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines, want %d:\n%s", len(c.texts()), n, strings.Join(c.texts(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return c.texts()
}

// startFollower runs a Follower on cfg until the test ends.
func startFollower(t *testing.T, cfg FollowConfig) *collector {
	t.Helper()
	if cfg.MaxLine == 0 {
		cfg.MaxLine = 4096
	}
	f, err := NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

// assertSameLines fails unless got holds every sent line exactly once, in
// order.
func assertSameLines(t *testing.T, got, sent []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(sent, "\n") {
		t.Errorf("delivered %d lines, wrote %d\ndelivered:\n%s\nwritten:\n%s",
			len(got), len(sent), strings.Join(got, "\n"), strings.Join(sent, "\n"))
	}
}

// settle gives the follower time to read what was written so far.
func settle() { time.Sleep(200 * time.Millisecond) }

func TestFollowerDeliversEveryLineOnceThroughRotation(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(t *testing.T, w *logWriter)
	}{
		{
			name: "rename_and_create_reads_the_renamed_file_to_its_end_first",
			rotate: func(t *testing.T, w *logWriter) {
				mustRename(t, w.path, w.path+".1")
				w.bans(3) // fail2ban keeps writing to the renamed file until flushlogs
				settle()
				mustCreate(t, w.path) // logrotate's create: empty until the writer moves
				settle()
				w.bans(2)
				settle()
				w.reopen()
				w.bans(4)
			},
		},
		{
			name: "flushlogs_reopen_starts_the_new_file_with_rollover",
			rotate: func(t *testing.T, w *logWriter) {
				mustRename(t, w.path, w.path+".1")
				w.bans(2)
				w.reopen()
				w.line(w.base.Format("2006-01-02 15:04:05,000") + " fail2ban.server         [9091]: INFO    rollover performed on " + w.path)
				w.bans(3)
			},
		},
		{
			name: "two_rotations_before_the_follower_looks_read_the_middle_file_too",
			rotate: func(t *testing.T, w *logWriter) {
				for range 2 { // faster than the debounce: the follower sees only the end state
					if _, err := os.Stat(w.path + ".1"); err == nil {
						mustRename(t, w.path+".1", w.path+".2")
					}
					mustRename(t, w.path, w.path+".1")
					w.reopen()
					w.bans(3)
				}
			},
		},
		{
			name: "copytruncate_reads_the_copy_for_lines_not_yet_read_then_starts_over",
			rotate: func(t *testing.T, w *logWriter) {
				w.bans(3) // not yet read when the copy is made
				mustCopy(t, w.path, w.path+".1")
				if err := os.Truncate(w.path, 0); err != nil {
					t.Fatal(err)
				}
				w.bans(4)
			},
		},
		{
			name: "copytruncate_after_everything_was_read_starts_over",
			rotate: func(t *testing.T, w *logWriter) {
				mustCopy(t, w.path, w.path+".1")
				if err := os.Truncate(w.path, 0); err != nil {
					t.Fatal(err)
				}
				settle()
				w.bans(40) // more than was in the file before: only the content shows the truncation
			},
		},
		{
			name: "delete_and_recreate_reads_the_deleted_file_to_its_end_first",
			rotate: func(t *testing.T, w *logWriter) {
				w.bans(2)
				if err := os.Remove(w.path); err != nil {
					t.Fatal(err)
				}
				w.bans(2) // still open by the writer
				settle()
				w.reopen()
				w.bans(3)
			},
		},
		{
			name: "line_written_in_two_pieces_is_delivered_once_whole",
			rotate: func(t *testing.T, w *logWriter) {
				w.n++
				l := banLine(w.base, "postfix-sasl", w.n)
				w.raw(l[:30])
				settle()
				w.raw(l[30:] + "\n")
				w.sent = append(w.sent, l)
				w.bans(1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fail2ban.log")
			w := newLogWriter(t, path)
			w.bans(5)
			c := startFollower(t, FollowConfig{Path: path})
			c.waitFor(t, len(w.sent))
			tt.rotate(t, w)
			w.bans(2)
			assertSameLines(t, c.waitFor(t, len(w.sent)), w.sent)
		})
	}
}

func TestFollowerWaitsForAMissingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	c := startFollower(t, FollowConfig{Path: path})
	settle()
	w := newLogWriter(t, path)
	w.bans(3)
	assertSameLines(t, c.waitFor(t, len(w.sent)), w.sent)
}

func TestFollowerCutsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	w := newLogWriter(t, path)
	c := startFollower(t, FollowConfig{Path: path, MaxLine: 100})
	long := strings.Repeat("x", 300<<10) // several read chunks
	w.raw(long[:1000])
	settle()
	w.raw(long[1000:] + "\n")
	w.bans(1)
	got := c.waitFor(t, 2)
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	c.mu.Lock()
	first, second := c.lines[0], c.lines[1]
	c.mu.Unlock()
	if !first.Truncated || len(first.Text) != 101 {
		t.Errorf("long line: Truncated=%v len=%d, want true and 101", first.Truncated, len(first.Text))
	}
	if first.Offset != int64(len(long)+1) {
		t.Errorf("long line ends at %d, want %d", first.Offset, len(long)+1)
	}
	if second.Truncated || string(second.Text) != w.sent[0] {
		t.Errorf("line after the long one = %q (Truncated=%v), want %q", second.Text, second.Truncated, w.sent[0])
	}
}

func TestFollowerResumesAtAnOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	w := newLogWriter(t, path)
	w.bans(3)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	w.sent = w.sent[:0]
	w.bans(2)
	c := startFollower(t, FollowConfig{Path: path, Start: []Segment{{Path: path, Offset: fi.Size()}}})
	w.bans(1)
	assertSameLines(t, c.waitFor(t, len(w.sent)), w.sent)
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFollowerLive measures how fast a following Follower delivers
// lines appended to its log, from write to delivery.
func BenchmarkFollowerLive(b *testing.B) {
	const batch = 10_000
	path := filepath.Join(b.TempDir(), "fail2ban.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var data strings.Builder
	at := time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)
	for i := range batch {
		data.WriteString(banLine(at.Add(time.Duration(i)*time.Millisecond), "sshd", i) + "\n")
	}
	f, err := NewFollower(FollowConfig{Path: path, MaxLine: MaxLineLength})
	if err != nil {
		b.Fatal(err)
	}
	delivered := make(chan int, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.Run(ctx, func(lines []Line) error {
			delivered <- len(lines)
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // watching
	b.ReportAllocs()
	b.SetBytes(int64(data.Len()))
	for b.Loop() {
		if _, err := w.WriteString(data.String()); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; got += <-delivered {
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func TestFollowerSkipsAResumedGzipShorterThanItsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fail2ban.log")
	old := newLogWriter(t, path+".1")
	old.bans(3)
	gzipCopy(t, path+".1", path+".1.gz")
	w := newLogWriter(t, path)
	w.bans(2)
	c := startFollower(t, FollowConfig{Path: path, Start: []Segment{{Path: path + ".1.gz", Offset: 1 << 20}}})
	assertSameLines(t, c.waitFor(t, len(w.sent)), w.sent)
}

// The file opened at Path may be rotated away before the rotated siblings
// are listed; it is followed from its start, so it is no missed rotation
// to read whole as well.
func TestFollowerDoesNotCountTheFileItMovesToAsAMissedRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	w := newLogWriter(t, path)
	w.bans(2)
	f, err := NewFollower(FollowConfig{Path: path, MaxLine: MaxLineLength})
	if err != nil {
		t.Fatal(err)
	}
	if f.cur, err = openAt(path, 0); err != nil {
		t.Fatal(err)
	}
	defer f.closeCur()
	mustRename(t, path, path+".1")
	w.reopen()
	w.bans(1)
	next, err := openAt(path, 0) // what check opens after its Stat
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	// A second rotation before the siblings are listed.
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	w.reopen()
	missed, err := f.missedRotations(next)
	if err != nil {
		t.Fatal(err)
	}
	if len(missed) != 0 {
		t.Errorf("missed rotations %v, want none: .2 is the followed file, .1 the one about to be followed", missed)
	}
}
