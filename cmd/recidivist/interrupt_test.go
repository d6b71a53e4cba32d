package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

// readBytes is how much the process pid has read so far (rchar of
// /proc/PID/io).
func readBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "io"))
	if err != nil {
		return 0 // not started yet, or gone
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64) // a torn read is retried
			return n
		}
	}
	return 0
}

// startCommand starts cmd, collecting its stderr; done receives its exit.
// A command still running when the test ends is killed.
func startCommand(t *testing.T, cmd *exec.Cmd) (done <-chan error, stderr *outputBuffer) {
	t.Helper()
	stderr = &outputBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile; Wait reaps it either way
			<-exited
		}
	})
	return exited, stderr
}

func TestScan_of_an_endless_log_stops_on_SIGINT_and_SIGTERM_with_128_plus_the_signal(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "recidivist.toml")
			write(t, conf, "")
			cmd := exec.Command(bin, "scan", "--config", conf, "/dev/zero")
			done, stderr := startCommand(t, cmd)
			// Reading has begun, so the signal handlers are in place (they
			// are the first thing main sets up).
			deadline := time.Now().Add(30 * time.Second)
			for readBytes(t, cmd.Process.Pid) < 16<<20 {
				if time.Now().After(deadline) {
					t.Fatalf("scan /dev/zero read %d bytes in 30 s:\n%s", readBytes(t, cmd.Process.Pid), stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
					t.Errorf("scan exited with %v after %v, want exit status %d:\n%s", err, tc.sig, tc.code, stderr.String())
				}
				if !strings.Contains(stderr.String(), "stopped by "+signalName(tc.sig)) {
					t.Errorf("stderr does not say it was stopped by %s:\n%s", signalName(tc.sig), stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("scan /dev/zero still running 30 s after %v:\n%s", tc.sig, stderr.String())
			}
		})
	}
}

// interrupted is the root context after Ctrl-C.
func interrupted() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalled{syscall.SIGINT})
	return ctx
}

func TestCommands_stopped_by_Ctrl_C_exit_130_without_claiming_success(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "fail2ban.log")
	write(t, log, f2bLine(time.Now(), "sshd", "192.0.2.10"))
	conf := filepath.Join(dir, "recidivist.toml")
	write(t, conf, "")
	state := filepath.Join(dir, "state")
	for _, args := range [][]string{
		{"scan", log},
		{"check", "--log", log, "--state-dir", state, "--set-name", "rcdvintr"},
		{"restore", "--state-dir", state, "--set-name", "rcdvintr"},
	} {
		t.Run(args[0], func(t *testing.T) {
			if args[0] != "scan" {
				// Should the command go on despite the signal, it must
				// change a throwaway namespace's firewall, never the host's.
				netnstest.Enter(t)
			}
			var stdout, stderr bytes.Buffer
			argv := append([]string{"recidivist", args[0], "--config", conf}, args[1:]...)
			code := run(interrupted(), argv, &stdout, &stderr)
			if code != 130 {
				t.Errorf("%s after Ctrl-C exited %d, want 130\nstdout:\n%s\nstderr:\n%s", args[0], code, stdout.String(), stderr.String())
			}
			// Nothing was read or checked once the signal had come.
			for _, finished := range []string{"all checks passed", "ADDRESS", "     log: ", "iptables", "restored"} {
				if strings.Contains(stdout.String()+stderr.String(), finished) {
					t.Errorf("%s after Ctrl-C went on to print %q:\nstdout:\n%s\nstderr:\n%s", args[0], finished, stdout.String(), stderr.String())
				}
			}
		})
	}
}

func TestRun_on_an_endless_log_stops_on_SIGTERM_and_saves_its_state(t *testing.T) {
	ns := namedNetns(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	conf, state := filepath.Join(dir, "recidivist.toml"), filepath.Join(dir, "state")
	write(t, conf, "")
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--config", conf, "--log", "/dev/zero",
		"--state-dir", state, "--set-name", "rcdvzero")
	done, stderr := startCommand(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	pid := 0
	for pid <= 0 || readBytes(t, pid) < 16<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start reading /dev/zero within 30 s (pid %d):\n%s", pid, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		h, _, _ := statedir.ReadHolder(state) // not yet written: retried
		pid = h.PID
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the daemon exited with %v after SIGTERM, want 0:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon still reading /dev/zero 30 s after SIGTERM:\n%s", stderr.String())
	}
	snap, err := watcher.ReadSnapshot(state, 3, 7*24*time.Hour)
	if err != nil {
		t.Fatalf("no state saved on the way out: %v", err)
	}
	if snap.Stats.Skipped[watcher.NULByte] == 0 {
		t.Errorf("saved skip counts %v, want the NUL run counted as nul-byte", snap.Stats.Skipped)
	}
}
