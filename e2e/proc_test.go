package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// output is a buffer that a child process writes while the test reads.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// proc is a long-running child process inside a network namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error // set before done closes
}

// startIn starts bin with args inside namespace ns (`ip netns exec`, which
// execs bin in its own place, so the pid is bin's). t.Cleanup kills it if it
// still runs.
func startIn(t *testing.T, ns, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: bin, out: &output{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", inNS(ns, bin, args...)...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s in %s: %v", bin, ns, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill() //nolint:errcheck // it may exit on its own meanwhile
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to go: a crash or power cut
// as far as the process can tell.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		t.Fatalf("killing %s: %v", p.name, err)
	}
	<-p.done
}

// term sends SIGTERM and fails t unless the process exits with status 0
// within 10s.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stopping %s: %v\n%s", p.name, err, p.out)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("%s exited with %v after SIGTERM, want status 0:\n%s", p.name, p.err, p.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10s of SIGTERM:\n%s", p.name, p.out)
	}
}

// alive fails t when the process has already exited.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited early (%v):\n%s", p.name, p.err, p.out)
	}
}

// runIn runs bin with args inside namespace ns to completion and returns
// its stdout; it fails t on a non-zero exit, with stderr.
func runIn(t *testing.T, ns, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", inNS(ns, bin, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s in %s: %v\nstdout:\n%s\nstderr:\n%s", bin, strings.Join(args, " "), ns, err, out, stderr.String())
		}
		t.Fatalf("running %s in %s: %v", bin, ns, err)
	}
	return string(out)
}

// eventually polls cond every millisecond until it holds or within has
// passed since start, and returns how long after start it first held. It
// fails t (with what and the daemon's output) on timeout or when cond errs.
func eventually(t *testing.T, start time.Time, within time.Duration, what string, d *proc, cond func() (bool, error)) time.Duration {
	t.Helper()
	deadline := start.Add(within)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, d.out)
		}
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\ndaemon output:\n%s", what, within, d.out)
		}
		time.Sleep(time.Millisecond)
	}
}
