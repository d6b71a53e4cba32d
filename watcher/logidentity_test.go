package watcher

import (
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
