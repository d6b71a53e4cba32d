package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
)

// TestDoctor_finds_a_second_daemon_among_real_processes starts a process
// that holds the daemon lock of another state dir, for the same sets.
func TestDoctor_finds_a_second_daemon_among_real_processes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	cmd := exec.Command(exe)
	cmd.Args = []string{filepath.Join(t.TempDir(), "recidivist"), "run"}
	cmd.Env = append(os.Environ(), "RECIDIVIST_TEST_IDLE=1", "RECIDIVIST_TEST_LOCK="+elsewhere, "RECIDIVIST_TEST_SET_NAME=recidivist")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	w := newWorld(t)
	w.doctor.procDir = "/proc"
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.out.Reset()
		w.doctor.checkDaemons()
		want := fmt.Sprintf("another recidivist daemon (PID %d, state dir %s) manages the same sets", cmd.Process.Pid, elsewhere)
		if strings.Contains(w.out.String(), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the doctor did not find PID %d:\n%s", cmd.Process.Pid, w.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDoctor_a_daemon_in_another_network_namespace_manages_other_sets starts
// a process whose command line is that of `recidivist run` on the same set
// names, in a network namespace of its own: its sets are not ours, so check
// must not call it a rival.
func TestDoctor_a_daemon_in_another_network_namespace_manages_other_sets(t *testing.T) {
	netnstest.RequireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	container := filepath.Join(t.TempDir(), "in-a-container")
	cmd := exec.Command(exe)
	cmd.Args = []string{filepath.Join(t.TempDir(), "recidivist"), "run"}
	cmd.Env = append(os.Environ(), "RECIDIVIST_TEST_IDLE=1", "RECIDIVIST_TEST_LOCK="+container, "RECIDIVIST_TEST_SET_NAME=recidivist")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	w := newWorld(t)
	w.doctor.procDir = "/proc"
	want := fmt.Sprintf("recidivist daemon (PID %d, state dir %s) runs in another network namespace", cmd.Process.Pid, container)
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.out.Reset()
		w.doctor.checkDaemons()
		if strings.Contains(w.out.String(), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the doctor did not see PID %d in its own namespace:\n%s", cmd.Process.Pid, w.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Only this daemon is looked at: another test's daemon may run beside.
	if strings.Contains(w.out.String(), fmt.Sprintf("(PID %d, state dir %s) manages the same sets", cmd.Process.Pid, container)) {
		t.Errorf("the doctor calls a daemon in another network namespace a rival:\n%s", w.out)
	}
}
