package watcher

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hostileCase is a log holding one kind of damage between genuine ban
// lines: every reader must skip the damage, count it, and never lose the
// line after it.
type hostileCase struct {
	name    string
	content string
	reason  SkipReason // the damage is counted as this
	want    []string   // addresses counted, in order
}

func hostileCases() []hostileCase {
	at := time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)
	ban := func(n int) string { return banLine(at.Add(time.Duration(n)*time.Second), "sshd", n) }
	nul := strings.Repeat("\x00", 4096)
	return []hostileCase{
		{"nul_block_at_a_line_start_then_a_ban", ban(1) + "\n" + nul + ban(2) + "\n", NULByte, []string{"192.0.2.2", "192.0.2.3"}},
		{"nul_block_cutting_a_line_then_a_ban", ban(1) + "\n" + ban(4)[:50] + nul + ban(2) + "\n", NULByte, []string{"192.0.2.2", "192.0.2.3"}},
		{"nul_block_bigger_than_a_line_then_a_ban", ban(1) + "\n" + ban(4)[:50] + strings.Repeat(nul, 40) + ban(2) + "\n" + ban(3) + "\n", NULByte, []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"}},
		{"nul_block_then_a_newline", ban(1) + "\n" + nul + "\n" + ban(2) + "\n", NULByte, []string{"192.0.2.2", "192.0.2.3"}},
		{"invalid_utf8_in_a_jail_name", strings.Replace(ban(1), "sshd", "ss\xffhd", 1) + "\n" + ban(2) + "\n", InvalidUTF8, []string{"192.0.2.3"}},
		{"over_long_line", ban(1) + "\n" + strings.Repeat("x", 3*MaxLineLength) + "\n" + ban(2) + "\n", TooLong, []string{"192.0.2.2", "192.0.2.3"}},
		{"forged_lines_without_timestamp", ban(1) + "\n" + strings.Repeat("    fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.9\n", 3) + ban(2) + "\n", NoTimestamp, []string{"192.0.2.2", "192.0.2.3"}},
	}
}

// countingReader runs lines through a Parser and keeps the addresses it
// counted.
type countingReader struct {
	p     *Parser
	addrs []string
}

func (c *countingReader) line(text []byte) {
	if b, v := c.p.Parse(text); v == Countable {
		c.addrs = append(c.addrs, b.Addr.String())
	}
}

func checkHostile(t *testing.T, tc hostileCase, addrs []string, skipped map[SkipReason]uint64) {
	t.Helper()
	if strings.Join(addrs, " ") != strings.Join(tc.want, " ") {
		t.Errorf("counted %v, want %v", addrs, tc.want)
	}
	if skipped[tc.reason] == 0 {
		t.Errorf("skipped %v, want the damage counted as %v", skipped, tc.reason)
	}
}

func TestScanFiles_skips_damaged_lines_and_never_loses_the_next_one(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, "fail2ban.log", tc.content)
			sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), threshold: 1, window: time.Hour}
			res := scanWith(t, sp, path)
			var addrs []string
			for _, o := range res.offenders {
				addrs = append(addrs, o.Addr.String())
			}
			checkHostile(t, tc, addrs, res.stats.Skipped)
		})
	}
}

func TestFollower_skips_damaged_lines_and_never_loses_the_next_one(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fail2ban.log")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			c := startFollower(t, FollowConfig{Path: path, MaxLine: MaxLineLength})
			w := newLogWriter(t, path)
			w.raw(tc.content)
			r := &countingReader{p: NewParser(ParserConfig{Location: time.UTC})}
			deadline := time.Now().Add(30 * time.Second)
			for {
				r.addrs = nil
				r.p = NewParser(ParserConfig{Location: time.UTC})
				c.mu.Lock()
				for _, l := range c.lines {
					r.line(l.Text)
				}
				c.mu.Unlock()
				if len(r.addrs) >= len(tc.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			checkHostile(t, tc, r.addrs, r.p.Skipped())
		})
	}
}

// TestScanFiles_reads_a_never_ending_line_in_bounded_memory scans a line of
// 64 MiB: it is skipped as too long, the line after it counts, and the
// scan never holds more than a few MiB.
func TestScanFiles_reads_a_never_ending_line_in_bounded_memory(t *testing.T) {
	at := time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	piece := []byte(strings.Repeat("fail2ban.actions [1]: NOTICE [sshd] Ban 192.0.2.9 ", 1<<10))
	for written := 0; written < 64<<20; written += len(piece) {
		if _, err := f.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteString("\n" + banLine(at, "sshd", 1) + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p, tracker := newTestPipeline(3, time.Hour)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = ScanFiles([]string{path}, p, func(Offender) {})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 24<<20 {
		t.Errorf("scanning a 64 MiB line allocated %d MiB, want it bounded by the line limit", grew>>20)
	}
	st := p.Stats()
	if st.Skipped[TooLong] != 1 || st.Bans != 1 {
		t.Errorf("skipped %v, %d bans; want the long line too-long and the next one counted", st.Skipped, st.Bans)
	}
	if c := tracker.Candidates(); len(c) != 1 || c[0].Addr != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("tracked %v, want 192.0.2.2", c)
	}
}

// endless is a log that never ends and never holds a newline.
const endless = "/dev/zero"

// stopsWithItsContext runs run until reading has started (started says
// so), then ends its context and returns run's result; it fails t when run
// goes on for 30 s after that.
func stopsWithItsContext(t *testing.T, what string, run func(context.Context) error, started func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); !started(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start reading %s within 30 s", what, endless)
		}
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still reading %s 30 s after its context ended", what, endless)
		return nil
	}
}

func TestFollower_on_an_endless_log_stops_when_its_context_ends(t *testing.T) {
	f, err := NewFollower(FollowConfig{Path: endless, MaxLine: MaxLineLength})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	err = stopsWithItsContext(t, "Follower.Run", func(ctx context.Context) error { return f.Run(ctx, c.emit) },
		func() bool { return len(c.texts()) > 0 })
	if err != nil {
		t.Errorf("Run = %v, want nil after the context ended", err)
	}
	if got := c.texts(); len(got) != 1 || got[0] != "\x00" {
		t.Errorf("delivered %q, want the endless NUL run as one line \"\\x00\"", got)
	}
}

func TestScanFilesContext_on_an_endless_log_stops_when_its_context_ends(t *testing.T) {
	p, _ := newTestPipeline(3, time.Hour)
	err := stopsWithItsContext(t, "ScanFilesWith", func(ctx context.Context) error {
		return ScanFilesWith(ctx, []string{endless}, p, func(Offender) {}, ScanOptions{})
	}, func() bool { return p.parser.Skipped()[NULByte] > 0 })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ScanFilesWith = %v, want the context's error", err)
	}
	if st := p.Stats(); st.Skipped[NULByte] != 1 {
		t.Errorf("skipped %v, want the endless NUL run counted once as nul-byte", st.Skipped)
	}
}

func TestWatcher_on_an_endless_log_stops_when_its_context_ends_and_saves_its_state(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Config{Logs: []string{endless}, StateDir: dir, Threshold: 3, Window: time.Hour, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	err = stopsWithItsContext(t, "Watcher.Run", func(ctx context.Context) error {
		return w.RunBatch(ctx, func([]Offender) error { return nil })
	}, func() bool { return w.Stats().Skipped[NULByte] > 0 })
	if err != nil {
		t.Errorf("Run = %v, want nil after the context ended", err)
	}
	snap, err := ReadSnapshot(dir, 3, time.Hour)
	if err != nil {
		t.Fatalf("no state saved on the way out: %v", err)
	}
	if snap.Stats.Skipped[NULByte] != 1 {
		t.Errorf("saved skip counts %v, want the endless NUL run counted once as nul-byte", snap.Stats.Skipped)
	}
}
