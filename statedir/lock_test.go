package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAcquire_writes_pid_state_dir_and_set_name_for_check_and_status(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if h, held, err := ReadHolder(dir); err != nil || held || h != (Holder{}) {
		t.Fatalf("ReadHolder of a state dir without a lock = %+v, %v, %v; want not held", h, held, err)
	}
	l, err := Acquire(dir, "rcdv")
	if err != nil {
		t.Fatal(err)
	}
	h, held, err := ReadHolder(dir)
	if want := (Holder{PID: os.Getpid(), StateDir: dir, SetName: "rcdv"}); err != nil || !held || h != want {
		t.Errorf("ReadHolder = %+v, %v, %v; want %+v, held", h, held, err, want)
	}
	b, err := os.ReadFile(Lock(dir))
	if want := fmt.Sprintf(`{"pid":%d,"state-dir":%q,"set-name":"rcdv"}`+"\n", os.Getpid(), dir); err != nil || string(b) != want {
		t.Errorf("the lock holds %q, want %q", b, want)
	}
	if _, err := Acquire(dir, "rcdv"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", os.Getpid())) {
		t.Errorf("a second Acquire = %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if h, held, err := ReadHolder(dir); err != nil || held {
		t.Errorf("ReadHolder after Release = %+v, %v, %v; want not held", h, held, err)
	}
}

// holdLock writes text into the lock of dir and holds it as a daemon would.
func holdLock(t *testing.T, dir, text string) {
	t.Helper()
	if err := os.WriteFile(Lock(dir), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(Lock(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
}

func TestReadHolder_reads_what_each_release_wrote(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       func(dir string) Holder
	}{
		{"a lock of the previous release holds the PID alone", "4242\n",
			func(dir string) Holder { return Holder{PID: 4242, StateDir: dir} }},
		{"a lock of this release names the state dir and the sets", `{"pid":4243,"state-dir":"/srv/other","set-name":"other"}` + "\n",
			func(string) Holder { return Holder{PID: 4243, StateDir: "/srv/other", SetName: "other"} }},
		{"a lock taken but not written yet has no PID", "",
			func(dir string) Holder { return Holder{StateDir: dir} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			holdLock(t, dir, tc.text)
			h, held, err := ReadHolder(dir)
			if want := tc.want(dir); err != nil || !held || h != want {
				t.Errorf("ReadHolder = %+v, %v, %v; want %+v, held", h, held, err, want)
			}
		})
	}
}

func TestDaemons_finds_each_daemon_by_the_lock_it_holds(t *testing.T) {
	proc := t.TempDir()
	fake := func(pid int, lockDir string) {
		t.Helper()
		fd := filepath.Join(proc, fmt.Sprint(pid), "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, target := range []string{"/dev/null", Lock(lockDir)} {
			if err := os.Symlink(target, filepath.Join(fd, fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	current, legacy, free, stranger := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	holdLock(t, current, `{"pid":4242,"state-dir":"/srv/other","set-name":"other"}`)
	holdLock(t, legacy, "4243\n")
	if err := os.WriteFile(Lock(free), []byte("4244\n"), 0o600); err != nil { // a daemon gone: nobody holds it
		t.Fatal(err)
	}
	holdLock(t, stranger, "4245\n") // held, but naming another process
	fake(4242, current)
	fake(4243, legacy)
	fake(4244, free)
	fake(4246, stranger)
	got := Daemons(proc)
	want := []Holder{{PID: 4242, StateDir: "/srv/other", SetName: "other"}, {PID: 4243, StateDir: legacy}}
	if !slices.Equal(got, want) {
		t.Errorf("Daemons = %+v, want %+v", got, want)
	}
}
