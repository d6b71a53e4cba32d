package watcher

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// These tests hold the watcher to "a log is identified by what it is (file
// identity and content), never by how its path is spelled, nor by its
// modification time".

func TestARotatedLogCompressedWithAFreshMtimeIsNotReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	cfg := testConfig(t, path, 3, time.Hour)
	now := time.Now()
	a, b, c := "192.0.2.10", "198.51.100.20", "203.0.113.30"
	appendLog(t, path, ban{now, "sshd", a}, ban{now.Add(time.Second), "sshd", a})
	r := startWatcher(t, cfg, nil)
	r.waitLines(t, 4)

	mustRename(t, path, path+".1")
	mustCreate(t, path)
	appendLog(t, path, ban{now.Add(2 * time.Second), "sshd", b})
	r.waitLines(t, 6)

	// A second rotation; log.2 is compressed by something that does not
	// keep the modification time (gzip -c, pigz -c, a script).
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	mustCreate(t, path)
	gzipCopy(t, path+".2", path+".2.gz")
	if err := os.Remove(path + ".2"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, ban{now.Add(3 * time.Second), "sshd", c})
	r.waitLines(t, 8)
	time.Sleep(300 * time.Millisecond) // time to read anything twice

	want := map[string]int{a: 2, b: 1, c: 1}
	if got := tracked(r.w.Candidates()); len(r.offenders()) != 0 || got[a] != want[a] || got[b] != want[b] || got[c] != want[c] {
		t.Errorf("tracked %v, offenders %v; want %v and no offender", got, addrsOf(r.offenders()), want)
	}
	if st := r.w.Stats(); st.Lines != 8 {
		t.Errorf("read %d lines, want 8 (each once)", st.Lines)
	}
}

func TestALogSpelledDifferentlyIsNotCountedAgain(t *testing.T) {
	tests := []struct {
		name string
		// respell returns how the log is configured on the second start,
		// after the first start counted it as dir/fail2ban.log.
		respell func(t *testing.T, dir, path string) string
	}{
		{name: "dot_in_the_path", respell: func(t *testing.T, dir, path string) string {
			return dir + "/./fail2ban.log"
		}},
		{name: "symlink_to_the_log", respell: func(t *testing.T, dir, path string) string {
			link := filepath.Join(t.TempDir(), "f2b.log")
			if err := os.Symlink(path, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
		{name: "log_setting_changed_to_the_same_file_moved", respell: func(t *testing.T, dir, path string) string {
			moved := filepath.Join(t.TempDir(), "fail2ban.log")
			mustRename(t, path, moved)
			return moved
		}},
		{name: "log_setting_changed_to_a_copy_of_the_counted_content", respell: func(t *testing.T, dir, path string) string {
			copied := filepath.Join(t.TempDir(), "f2b-copy.log")
			mustCopy(t, path, copied)
			return copied
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "fail2ban.log")
			cfg := testConfig(t, path, 3, time.Hour)
			now := time.Now()
			a, b := "192.0.2.10", "198.51.100.20"
			appendLog(t, path, ban{now, "sshd", a}, ban{now.Add(time.Second), "sshd", a})
			r := startWatcher(t, cfg, nil)
			r.waitLines(t, 4)
			r.stop(t)

			cfg.Logs = []string{tt.respell(t, dir, path)}
			r = startWatcher(t, cfg, nil)
			appendLog(t, cfg.Logs[0], ban{now.Add(2 * time.Second), "sshd", b})
			r.waitLines(t, 6) // the counts go on: nothing read twice
			time.Sleep(300 * time.Millisecond)
			got := tracked(r.w.Candidates())
			if len(r.offenders()) != 0 || got[a] != 2 || got[b] != 1 {
				t.Errorf("tracked %v, offenders %v; want %s with 2 bans, %s with 1, no offender", got, addrsOf(r.offenders()), a, b)
			}
			if st := r.w.Stats(); st.Lines != 6 {
				t.Errorf("read %d lines in all, want 6 (each once)", st.Lines)
			}
		})
	}
}

func TestTheSameLogListedTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fail2ban.log")
	appendLog(t, path, ban{time.Now(), "sshd", "192.0.2.10"})
	link := filepath.Join(t.TempDir(), "f2b.log")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, second := range []string{dir + "/./fail2ban.log", link} {
		cfg := testConfig(t, path, 3, time.Hour)
		cfg.Logs = append(cfg.Logs, second)
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("logs %v: New returned %v, want ErrBadConfig (one file read twice counts every ban twice)", cfg.Logs, err)
		}
	}
}

func TestALogSwitchedBackToIsNotCountedAgain(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	now := time.Now()
	appendLog(t, first, ban{now, "sshd", "192.0.2.10"}, ban{now.Add(time.Second), "sshd", "192.0.2.10"})
	appendLog(t, second, ban{now, "sshd", "198.51.100.20"})
	cfg := testConfig(t, first, 3, time.Hour)
	for i, log := range []string{first, second, first} {
		cfg.Logs = []string{log}
		r := startWatcher(t, cfg, nil)
		r.waitLines(t, []uint64{4, 2, 0}[i]) // the counts of a log not configured are not kept
		time.Sleep(300 * time.Millisecond)
		if got := tracked(r.w.Candidates()); len(r.offenders()) != 0 || got["192.0.2.10"] != 2 {
			t.Fatalf("start %d on %s: tracked %v, offenders %v; want 192.0.2.10 with 2 bans and no offender", i+1, log, got, addrsOf(r.offenders()))
		}
		r.stop(t)
	}
}
