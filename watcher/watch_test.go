package watcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ban is one Ban line to write in a test log.
type ban struct {
	at   time.Time
	jail string
	addr string
}

// line renders b as fail2ban 1.0.2 writes it (shape of the corpus).
func (b ban) line() string {
	return fmt.Sprintf("%s fail2ban.actions        [9484]: NOTICE  [%s] Ban %s",
		b.at.UTC().Format("2006-01-02 15:04:05,000"), b.jail, b.addr)
}

// appendLog appends the Ban lines of bans to path, each followed by an
// Unban line that must not count.
func appendLog(t *testing.T, path string, bans ...ban) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sb strings.Builder
	for _, b := range bans {
		sb.WriteString(b.line() + "\n")
		sb.WriteString(strings.Replace(b.line(), "] Ban ", "] Unban ", 1) + "\n")
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		t.Fatal(err)
	}
}

// gzipFile replaces path with path.gz, as logrotate's compress does.
func gzipFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	gzipCopy(t, path, path+".gz")
	if err := os.Chtimes(path+".gz", fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// running is a Watcher running in the background with the offenders it
// reported.
type running struct {
	w      *Watcher
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	got    []Offender
}

// startWatcher runs a Watcher on cfg; accept decides the callback's answer
// for each offender of a batch, which is accepted (and recorded) only when
// every offender in it is.
func startWatcher(t *testing.T, cfg Config, accept func(Offender) error) *running {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- w.RunBatch(ctx, func(batch []Offender) error {
			for _, o := range batch {
				if accept != nil {
					if err := accept(o); err != nil {
						return err
					}
				}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, batch...)
			return nil
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// newWatcher is New that fails t on error.
func newWatcher(t *testing.T, cfg Config) *Watcher {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// runBatch runs w.RunBatch with fn in the background. The stop it returns
// (also called at cleanup, once) ends Run and fails t if Run failed.
func runBatch(t *testing.T, w *Watcher, fn func([]Offender) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.RunBatch(ctx, fn) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunBatch: %v", err)
		}
	})
	t.Cleanup(stop)
	return stop
}

// banTwice appends two sshd bans of each address, at and a second after at.
func banTwice(t *testing.T, path string, at time.Time, addrs ...string) {
	t.Helper()
	var bans []ban
	for _, a := range addrs {
		bans = append(bans, ban{at, "sshd", a}, ban{at.Add(time.Second), "sshd", a})
	}
	appendLog(t, path, bans...)
}

// stop ends Run cleanly (once).
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func (r *running) offenders() []Offender {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitLines waits until the Watcher has read n lines.
func (r *running) waitLines(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.w.Stats().Lines < n {
		if time.Now().After(deadline) {
			t.Fatalf("watcher read %d lines, want %d", r.w.Stats().Lines, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOffenders waits until n offenders were accepted.
func (r *running) waitOffenders(t *testing.T, n int) []Offender {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.offenders()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got offenders %v, want %d", addrsOf(r.offenders()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.offenders()
}

func addrsOf(os []Offender) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.Addr.String()
	}
	return out
}

// tracked maps each tracked address to its ban count.
func tracked(cands []Offender) map[string]int {
	m := map[string]int{}
	for _, c := range cands {
		m[c.Addr.String()] = c.Bans
	}
	return m
}

func testConfig(t *testing.T, logPath string, threshold int, window time.Duration) Config {
	t.Helper()
	return Config{
		Logs:         []string{logPath},
		StateDir:     filepath.Join(t.TempDir(), "state"),
		Threshold:    threshold,
		Window:       window,
		Location:     time.UTC,
		ExcludeJails: []string{"recidive"},
	}
}

func TestFirstStartBackfillsEveryRotatedLogHoweverOldAndDecidesAsScan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fail2ban.log")
	now := time.Now()
	// .3 ended two days ago, long before a one-day window of now: it is
	// read all the same, since the decision depends on the lines alone.
	appendLog(t, path+".3", ban{now.Add(-50 * time.Hour), "sshd", "192.0.2.1"}, ban{now.Add(-49 * time.Hour), "sshd", "192.0.2.1"})
	old := now.Add(-48 * time.Hour)
	if err := os.Chtimes(path+".3", old, old); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path+".2", ban{now.Add(-3 * time.Hour), "sshd", "192.0.2.1"}, ban{now.Add(-3 * time.Hour), "sshd", "198.51.100.7"})
	gzipFile(t, path+".2")
	appendLog(t, path+".1", ban{now.Add(-2 * time.Hour), "postfix-sasl", "198.51.100.7"}, ban{now.Add(-2 * time.Hour), "recidive", "198.51.100.7"})
	// The current file goes back further than the window of now: an offence
	// whose bans fall within the window of each other counts, however old.
	appendLog(t, path, ban{now.Add(-30 * time.Hour), "sshd", "203.0.113.66"}, ban{now.Add(-30 * time.Hour), "sshd", "203.0.113.66"},
		ban{now.Add(-30 * time.Hour), "sshd", "203.0.113.66"})
	appendLog(t, path, ban{now.Add(-time.Hour), "nginx-http-auth", "198.51.100.7"}, ban{now.Add(-time.Hour), "sshd", "2001:db8::7"})

	cfg := testConfig(t, path, 3, 24*time.Hour)
	var want []Offender
	p := NewPipeline(NewParser(ParserConfig{Location: cfg.Location}), NewFilter(nil, cfg.ExcludeJails, nil), NewTracker(cfg.Threshold, cfg.Window))
	if err := ScanFiles([]string{path + ".3", path + ".2.gz", path + ".1", path}, p, func(o Offender) { want = append(want, o) }); err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || want[0].Addr != netip.MustParseAddr("203.0.113.66") || want[1].Addr != netip.MustParseAddr("198.51.100.7") ||
		!slices.Equal(want[1].Jails, []string{"nginx-http-auth", "postfix-sasl", "sshd"}) {
		t.Fatalf("scan found %+v, want 203.0.113.66 and 198.51.100.7 (3 jails); the test proves nothing", want)
	}
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 22) // every file, .3 included
	if got := r.waitOffenders(t, 2); !slices.EqualFunc(got, want, func(a, b Offender) bool {
		return a.Addr == b.Addr && a.Bans == b.Bans && slices.Equal(a.Jails, b.Jails) && a.First.Equal(b.First) && a.Last.Equal(b.Last)
	}) {
		t.Errorf("offenders %+v, want what scan finds: %+v", got, want)
	}
	want3 := map[string]int{"192.0.2.1": 3, "2001:db8::7": 1}
	if c := tracked(r.w.Candidates()); !maps.Equal(c, want3) {
		t.Errorf("tracked %v, want %v (the .3 bans count too)", c, want3)
	}
	if st := r.w.Stats(); st.Filtered != 1 || st.Bans != 10 {
		t.Errorf("Stats Bans=%d Filtered=%d, want 10 and 1", st.Bans, st.Filtered)
	}
}

func TestAYearLongWindowOutlivesTheLogsOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fail2ban.log")
	cfg := testConfig(t, path, 3, 365*24*time.Hour)
	now := time.Now()
	offender := "2001:db8:1:2::3"
	// Three bans months apart, each in a log that logrotate compresses and
	// deletes (rotate 1) before the next ban; the watcher is restarted in
	// between, so only its saved history remembers the earlier bans.
	for i, age := range []time.Duration{300, 150, 1} {
		appendLog(t, path, ban{now.Add(-age * 24 * time.Hour), "sshd", offender}, ban{now.Add(-age * 24 * time.Hour), "sshd", fmt.Sprintf("192.0.2.%d", i+1)})
		r := startWatcher(t, cfg, nil)
		r.waitLines(t, uint64(4*(i+1))) // the counts go on across restarts
		if i < 2 {
			if got := r.offenders(); len(got) != 0 {
				t.Fatalf("after ban %d: offenders %v, want none yet", i+1, addrsOf(got))
			}
			if c := tracked(r.w.Candidates()); c[offender] != i+1 {
				t.Fatalf("after ban %d: %s has %d bans, want %d", i+1, offender, c[offender], i+1)
			}
			r.stop(t)
			// Rotate with compression, then drop every rotated file.
			mustRename(t, path, path+".1")
			gzipFile(t, path+".1")
			if err := os.Remove(path + ".1.gz"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got := r.waitOffenders(t, 1)
		if got[0].Addr != netip.MustParseAddr(offender) || got[0].Bans != 3 {
			t.Errorf("offender %+v, want %s with 3 bans", got[0], offender)
		}
		if span := got[0].Last.Sub(got[0].First); span < 290*24*time.Hour {
			t.Errorf("offence spans %v, want about 299 days", span)
		}
	}
}

func TestRestartResumesWithoutCountingTwice(t *testing.T) {
	tests := []struct {
		name string
		// between runs, with the watcher stopped
		meanwhile func(t *testing.T, path string)
	}{
		{name: "same_file_resumes_at_the_checkpoint", meanwhile: func(t *testing.T, path string) {}},
		{name: "renamed_file_is_finished_then_the_new_one_read", meanwhile: func(t *testing.T, path string) {
			appendLog(t, path, ban{time.Now(), "sshd", "203.0.113.5"})
			mustRename(t, path, path+".1")
		}},
		{name: "renamed_and_compressed_file_is_finished_then_the_new_one_read", meanwhile: func(t *testing.T, path string) {
			appendLog(t, path, ban{time.Now(), "sshd", "203.0.113.5"})
			mustRename(t, path, path+".1")
			gzipFile(t, path+".1")
		}},
		{name: "copytruncated_file_is_finished_from_the_copy_then_read_from_0", meanwhile: func(t *testing.T, path string) {
			appendLog(t, path, ban{time.Now(), "sshd", "203.0.113.5"})
			mustCopy(t, path, path+".1")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fail2ban.log")
			cfg := testConfig(t, path, 3, time.Hour)
			now := time.Now()
			appendLog(t, path, ban{now, "sshd", "203.0.113.5"}, ban{now, "sshd", "203.0.113.9"})
			r := startWatcher(t, cfg, nil)
			r.waitLines(t, 4)
			r.stop(t)
			tt.meanwhile(t, path)
			appendLog(t, path, ban{now, "sshd", "203.0.113.9"})
			r = startWatcher(t, cfg, nil)
			time.Sleep(500 * time.Millisecond) // time to count anything twice
			c := tracked(r.w.Candidates())
			total := 0
			for _, n := range c {
				total += n
			}
			wantTotal := 3
			if tt.name != "same_file_resumes_at_the_checkpoint" {
				wantTotal = 4
			}
			if total != wantTotal || len(r.offenders()) != 0 {
				t.Errorf("tracked %v, offenders %v: want %d bans and no offender", c, addrsOf(r.offenders()), wantTotal)
			}
		})
	}
}

func TestRefusedOffenderIsRetriedAndSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.77"}, ban{now.Add(time.Second), "postfix-sasl", "192.0.2.77"})
	var refusals atomic.Int32
	r := startWatcher(t, cfg, func(Offender) error {
		refusals.Add(1)
		return errors.New("kernel busy")
	})
	r.waitLines(t, 4)
	deadline := time.Now().Add(5 * time.Second)
	for refusals.Load() < 2 && time.Now().Before(deadline) { // first try, then a retry a second later
		time.Sleep(20 * time.Millisecond)
	}
	if refusals.Load() < 2 {
		t.Fatalf("callback called %d times, want a retry", refusals.Load())
	}
	r.stop(t)
	r = startWatcher(t, cfg, nil)
	got := r.waitOffenders(t, 1)
	if got[0].Addr != netip.MustParseAddr("192.0.2.77") || got[0].Bans != 2 {
		t.Errorf("offender after restart %+v, want 192.0.2.77 with 2 bans", got[0])
	}
}

func TestForgiveDropsHistoryAndAQueuedOffender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.8"}, ban{now, "sshd", "192.0.2.9"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)
	r.w.Forgive(netip.MustParsePrefix("192.0.2.8/31"), now)
	if c := r.w.Candidates(); len(c) != 0 {
		t.Errorf("tracked %v after Forgive, want none", c)
	}
	// An old line read again does not count; a later ban counts afresh.
	appendLog(t, path, ban{now, "sshd", "192.0.2.8"}, ban{now.Add(time.Second), "sshd", "192.0.2.8"})
	r.waitLines(t, 8)
	if c := tracked(r.w.Candidates()); c["192.0.2.8"] != 1 || len(r.offenders()) != 0 {
		t.Errorf("tracked %v, offenders %v: want 192.0.2.8 once, no offender", c, addrsOf(r.offenders()))
	}
}

func TestStateFileIsPrivateAndOthersWritableStateIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.8"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	r.stop(t)
	state := filepath.Join(cfg.StateDir, StateFile)
	for p, want := range map[string]os.FileMode{cfg.StateDir: 0o700, state: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if err := os.Chmod(state, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); !errors.Is(err, ErrStatePermissions) {
		t.Errorf("New with a world-writable state: %v, want ErrStatePermissions", err)
	}
}

func TestCorruptStateIsMovedAsideAndTheLogReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.8"})
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(cfg.StateDir, StateFile)
	if err := os.WriteFile(state, []byte(stateHeader+"{}\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 2)
	if c := tracked(r.w.Candidates()); c["192.0.2.8"] != 1 {
		t.Errorf("tracked %v, want 192.0.2.8 once", c)
	}
	if _, err := os.Stat(state + ".corrupt"); err != nil {
		t.Errorf("corrupt state not kept aside: %v", err)
	}
}

func TestWatcherCountsEveryBanOnceThroughRotation(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{name: "rename_and_create", rotate: func(t *testing.T, path string) {
			mustRename(t, path, path+".1")
			mustCreate(t, path)
		}},
		{name: "copytruncate", rotate: func(t *testing.T, path string) {
			mustCopy(t, path, path+".1")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "delete_and_recreate", rotate: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rename_then_flushlogs_reopen", rotate: func(t *testing.T, path string) {
			mustRename(t, path, path+".1")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(time.Now().UTC().Format("2006-01-02 15:04:05,000") +
				" fail2ban.server         [9484]: INFO    rollover performed on " + path + "\n"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fail2ban.log")
			cfg := testConfig(t, path, 1000, time.Hour) // nobody becomes an offender: every ban stays tracked
			now := time.Now()
			want := map[string]int{}
			n := 0
			write := func(k int) {
				for range k {
					n++ // every line differs, as fail2ban's timestamps make them
					b := ban{now.Add(time.Duration(n) * time.Millisecond), "sshd", fmt.Sprintf("192.0.2.%d", 1+n%7)}
					appendLog(t, path, b)
					want[b.addr]++
				}
			}
			write(20)
			r := startWatcher(t, cfg, nil)
			for range 3 {
				r.waitTracked(t, want) // a file deleted before it was ever opened is lost to any reader
				write(5)               // not yet read when the log rotates
				tt.rotate(t, path)
				write(9)
			}
			r.waitTracked(t, want)
			time.Sleep(300 * time.Millisecond) // a ban counted twice would show now
			if got := tracked(r.w.Candidates()); !maps.Equal(got, want) {
				t.Errorf("tracked %v, want %v", got, want)
			}
		})
	}
}

// waitTracked waits until the Watcher tracks exactly want.
func (r *running) waitTracked(t *testing.T, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for got := tracked(r.w.Candidates()); !maps.Equal(got, want); got = tracked(r.w.Candidates()) {
		if time.Now().After(deadline) {
			t.Fatalf("tracked %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSeveralLogsFeedOneTrackerWithTheirOwnCheckpoints(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "fail2ban.log"), filepath.Join(dir, "other", "fail2ban.log")
	if err := os.Mkdir(filepath.Dir(b), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, a, 3, time.Hour)
	cfg.Logs = []string{a, b}
	now := time.Now()
	appendLog(t, a, ban{now, "sshd", "2001:db8::5"})
	appendLog(t, b, ban{now.Add(time.Second), "postfix-sasl", "2001:db8::5"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)
	r.stop(t)
	appendLog(t, b, ban{now.Add(2 * time.Second), "nginx-http-auth", "2001:db8::5"})
	r = startWatcher(t, cfg, nil)
	got := r.waitOffenders(t, 1)
	if got[0].Addr != netip.MustParseAddr("2001:db8::5") || got[0].Bans != 3 ||
		!slices.Equal(got[0].Jails, []string{"nginx-http-auth", "postfix-sasl", "sshd"}) {
		t.Errorf("offender %+v, want 2001:db8::5 with 3 bans from both logs", got[0])
	}
	// The counts go on from the saved ones: 4 lines before the stop, then
	// only the 2 new ones (reading either log again would make it 8 or 10).
	if st := r.w.Stats(); st.Lines != 6 {
		t.Errorf("%d lines counted in all, want 4 before the restart and the 2 new ones", st.Lines)
	}
}

func TestReloadAppliesANewThresholdAndIgnoreList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 5, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.40"}, ban{now, "sshd", "192.0.2.41"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)
	cfg.Threshold = 2
	cfg.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.41/32")}
	r.w.Reload(cfg)
	appendLog(t, path, ban{now.Add(time.Second), "sshd", "192.0.2.40"}, ban{now.Add(time.Second), "sshd", "192.0.2.41"})
	got := r.waitOffenders(t, 1)
	r.waitLines(t, 8)
	if len(got) != 1 || got[0].Addr != netip.MustParseAddr("192.0.2.40") {
		t.Errorf("offenders %v, want only 192.0.2.40 (192.0.2.41 is ignored now)", addrsOf(got))
	}
	if st := r.w.Stats(); st.Filtered != 1 {
		t.Errorf("Stats.Filtered = %d, want 1", st.Filtered)
	}
}

func TestReadSnapshotShowsWhatTheDaemonSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	if _, err := ReadSnapshot(cfg.StateDir, 3, time.Hour); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadSnapshot before any save: %v, want fs.ErrNotExist", err)
	}
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.8"}, ban{now.Add(time.Second), "postfix-sasl", "192.0.2.8"})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap, err := ReadSnapshot(cfg.StateDir, 3, time.Hour)
		if err == nil && len(snap.Tracked) == 1 {
			if snap.Tracked[0].Bans != 2 || len(snap.Checkpoints) != 1 || !strings.Contains(snap.Checkpoints[0].LastBanLine, "[postfix-sasl] Ban 192.0.2.8") {
				t.Errorf("snapshot %+v, want 192.0.2.8 with 2 bans and the postfix-sasl line last", snap)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no saved state with the bans: %+v, %v", snap, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBackfillHandsOverOffendersInBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	now := time.Now().Add(-30 * time.Minute)
	const n = 3000
	var bans []ban
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		bans = append(bans, ban{now, "sshd", addr}, ban{now.Add(time.Second), "postfix-sasl", addr})
	}
	appendLog(t, path, bans...)
	w := newWatcher(t, cfg)
	var (
		mu      sync.Mutex
		calls   int
		largest int
		got     = map[netip.Addr]int{}
	)
	stop := runBatch(t, w, func(batch []Offender) error {
		time.Sleep(5 * time.Millisecond) // a mirror write: fsyncs
		mu.Lock()
		defer mu.Unlock()
		calls++
		largest = max(largest, len(batch))
		for _, o := range batch {
			got[o.Addr]++
		}
		return nil
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d offenders handed over", k, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	for a, c := range got {
		if c != 1 {
			t.Errorf("%v handed over %d times, want once", a, c)
		}
	}
	// One call per offender would be 3000 mirror writes; a batch per chunk
	// of the log read is a few dozen at most.
	if calls > n/30 {
		t.Errorf("%d offenders in %d calls (largest %d): want them batched", n, calls, largest)
	}
}

func TestRefusedBatchIsOfferedAgainWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	banTwice(t, path, time.Now(), "192.0.2.1", "192.0.2.2", "2001:db8::3")
	w := newWatcher(t, cfg)
	batches := make(chan []string, 10)
	refused := false
	stop := runBatch(t, w, func(batch []Offender) error {
		batches <- addrsOf(batch)
		if !refused {
			refused = true
			return errors.New("mirror on a full disk")
		}
		return nil
	})
	first, second := <-batches, <-batches
	stop()
	want := []string{"192.0.2.1", "192.0.2.2", "2001:db8::3"}
	if !slices.Equal(first, want) || !slices.Equal(second, want) {
		t.Errorf("batches %v then %v, want %v twice", first, second, want)
	}
}

func TestNoStateIsSavedPastABatchTheCallbackRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	now := time.Now()
	appendLog(t, path, ban{now, "sshd", "192.0.2.1"}, ban{now.Add(time.Second), "sshd", "192.0.2.1"})
	var refusals atomic.Int32
	r := startWatcher(t, cfg, func(Offender) error {
		refusals.Add(1)
		return errors.New("mirror on a full disk")
	})
	r.waitLines(t, 2)
	deadline := time.Now().Add(20 * time.Second)
	for refusals.Load() < 2 { // the first try, then a retry a second later: saves had their chance
		if time.Now().After(deadline) {
			t.Fatalf("callback called %d times, want a retry", refusals.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A crash now must read the lines again: no saved checkpoint covers
	// them and no saved history counts them.
	snap, err := ReadSnapshot(cfg.StateDir, 2, time.Hour)
	if err == nil && (len(snap.Checkpoints) != 0 || len(snap.Tracked) != 0) {
		t.Errorf("saved while the batch was refused: %+v", snap)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	r.stop(t)
	if _, err := ReadSnapshot(cfg.StateDir, 2, time.Hour); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a stop with the batch still refused saved state (%v); want the lines read again", err)
	}
}

func TestReadingWaitsForTheCallbackAndHandsOverInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	now := time.Now()
	banTwice(t, path, now, "192.0.2.1")
	w := newWatcher(t, cfg)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	accepted := make(chan []string, 10)
	stop := runBatch(t, w, func(batch []Offender) error {
		entered <- struct{}{}
		<-release // a slow mirror write
		accepted <- addrsOf(batch)
		return nil
	})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // before runBatch's cleanup stops Run: a failed test leaves the callback waiting
	<-entered              // the callback is busy with 192.0.2.1
	appendLog(t, path, ban{now.Add(2 * time.Second), "sshd", "192.0.2.2"}, ban{now.Add(3 * time.Second), "sshd", "192.0.2.2"})
	time.Sleep(300 * time.Millisecond) // a reader that did not wait would count them now
	if n := w.Stats().Lines; n != 4 {  // two bans and their unbans
		t.Errorf("read %d lines while the callback held the first batch, want its 4", n)
	}
	releaseOnce()
	var got []string
	for len(got) < 2 {
		select {
		case batch := <-accepted:
			got = append(got, batch...)
		case <-time.After(20 * time.Second):
			t.Fatalf("callback accepted %v, want both offenders", got)
		}
	}
	stop()
	if !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("callback accepted %v, want both, in order", got)
	}
}

func TestOffendersAnOlderStateQueuedAreHandedOverOnceAndNotSavedAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	queued := Offender{Addr: netip.MustParseAddr("192.0.2.99"), Bans: 2, Jails: []string{"sshd"}, First: time.Now().Add(-time.Minute), Last: time.Now()}
	var buf bytes.Buffer
	if err := encodeState(&buf, savedState{Saved: time.Now().UTC(), Pending: []Offender{queued}}, NewTracker(2, time.Hour).historyTakingOps()); err != nil {
		t.Fatal(err)
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := saveState(cfg.StateDir, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := startWatcher(t, cfg, nil)
	if got := r.waitOffenders(t, 1); got[0].Addr != queued.Addr {
		t.Fatalf("handed over %v, want the queued 192.0.2.99", addrsOf(got))
	}
	r.stop(t)
	st, found, err := loadState(cfg.StateDir, NewTracker(2, time.Hour))
	if err != nil || !found {
		t.Fatalf("state after the stop: found %v, %v", found, err)
	}
	if len(st.Pending) != 0 {
		t.Errorf("the saved state still queues %d offenders, want none once handed over", len(st.Pending))
	}
	r = startWatcher(t, cfg, nil)
	time.Sleep(300 * time.Millisecond)
	if got := r.offenders(); len(got) != 0 {
		t.Errorf("handed over %v again after a restart", addrsOf(got))
	}
}

func TestNoCheckpointPastAcceptedOffendersIsSavedUntilDurableSaysTheyAre(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 2, time.Hour)
	var durable atomic.Bool
	var calls atomic.Int32
	cfg.Durable = func() error {
		calls.Add(1)
		if !durable.Load() {
			return errors.New("mirror on a full disk")
		}
		return nil
	}
	appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.5"}, ban{time.Now(), "sshd", "192.0.2.5"})
	r := startWatcher(t, cfg, nil)
	r.waitOffenders(t, 1)
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 2 { // two saves tried
		if time.Now().After(deadline) {
			t.Fatal("Durable not called before a save")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ReadSnapshot(cfg.StateDir, 2, time.Hour); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state saved while Durable refused (%v); a crash would lose the offender", err)
	}
	durable.Store(true)
	for {
		if snap, err := ReadSnapshot(cfg.StateDir, 2, time.Hour); err == nil && len(snap.Checkpoints) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no state saved once Durable said the offenders are recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
