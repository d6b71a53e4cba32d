package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/statedir"
)

// buildBinary builds the recidivist command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "recidivist")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// namedNetns creates a named network namespace (ip netns add) removed at
// cleanup; commands run in it with `ip netns exec NAME`.
func namedNetns(t *testing.T) string {
	t.Helper()
	netnstest.RequireRoot(t)
	name := fmt.Sprintf("rcdv-sig-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	return name
}

// outputBuffer is a bytes.Buffer safe for a writer process and a reader test.
type outputBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *outputBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *outputBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRun_reloads_on_SIGHUP_and_leaves_sets_and_rules_on_SIGTERM runs the
// built daemon in its own network namespace.
func TestRun_reloads_on_SIGHUP_and_leaves_sets_and_rules_on_SIGTERM(t *testing.T) {
	ns := namedNetns(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	log, conf := filepath.Join(dir, "fail2ban.log"), filepath.Join(dir, "recidivist.toml")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("threshold = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--config", conf, "--log", log,
		"--state-dir", state, "--set-name", "rcdvsig")
	var stderr outputBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not log %q within 10s:\n%s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("blocklist in force")

	if err := os.WriteFile(conf, []byte("threshold = 5\nignore = [\"192.0.2.0/24\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Signal the daemon itself, whether ip exec'd it in place or runs it as
	// its child: the PID it wrote into its lock. (A child of ip's PID may be
	// an iptables the daemon runs.)
	h, _, err := statedir.ReadHolder(state)
	pid := h.PID
	if err != nil || pid <= 0 {
		t.Fatalf("the daemon's PID in its lock: %d, %v", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(`msg="configuration reloaded" threshold=5`)
	if !strings.Contains(stderr.String(), "ignore=1") {
		t.Errorf("the reload did not pick up the ignore list:\n%s", stderr.String())
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the daemon exited with %v after SIGTERM, want 0:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the daemon did not exit within 10s of SIGTERM:\n%s", stderr.String())
	}
	sets, err := exec.Command("ip", "netns", "exec", ns, "ipset", "list", "-n").CombinedOutput()
	if err != nil || !strings.Contains(string(sets), "rcdvsig\n") || !strings.Contains(string(sets), "rcdvsig6\n") {
		t.Errorf("sets after SIGTERM (%v):\n%s", err, sets)
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		rules, err := exec.Command("ip", "netns", "exec", ns, ipt, "-S", "INPUT").CombinedOutput()
		if err != nil || !strings.Contains(string(rules), "--match-set rcdvsig") {
			t.Errorf("%s -S INPUT after SIGTERM (%v):\n%s", ipt, err, rules)
		}
	}
}
