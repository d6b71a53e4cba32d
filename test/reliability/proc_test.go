package reliability

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/testenv"
)

// proc is a long-running child process (the daemon).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error // set before done closes
}

// start starts argv[0] with argv[1:]. t.Cleanup kills it if it still runs.
func start(t *testing.T, argv ...string) *proc {
	t.Helper()
	p := &proc{name: strings.Join(argv, " "), out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
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

// term sends SIGTERM and returns an error unless the process exits with
// status 0 within 10s (it is killed then).
func (p *proc) term() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // it overstayed; the error below says so
		<-p.done
		return errors.New("still running 10s after SIGTERM")
	}
}

// tail is the last n lines of the process's output, for failure messages.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// without is the last n lines of the process's output that do not contain
// skip: the notices a failure message needs, without the flood of one
// kind of line around them.
func (p *proc) without(skip string, n int) string {
	var kept []string
	for _, l := range strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n") {
		if !strings.Contains(l, skip) {
			kept = append(kept, l)
		}
	}
	if len(kept) > n {
		kept = append([]string{"…"}, kept[len(kept)-n:]...)
	}
	return strings.Join(kept, "\n")
}

// result is how a one-shot command ended.
type result struct {
	stdout, stderr string
	code           int // exit status; -1 when it did not exit normally
}

// run runs argv to completion.
func run(t *testing.T, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// errGiveUp, wrapped in an error of a waitFor condition, ends the wait at
// once: the condition can no longer come true (the daemon exited).
var errGiveUp = errors.New("giving up")

// waitFor polls cond every 20ms until it holds or within has passed, and
// returns how long it took. On timeout it returns the last error of cond
// (or a plain timeout error).
func waitFor(within time.Duration, cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return time.Since(start), nil
		}
		if errors.Is(err, errGiveUp) {
			return time.Since(start), err
		}
		last = err
		if time.Since(start) > within {
			if last == nil {
				last = errors.New("condition never held")
			}
			return time.Since(start), last
		}
		time.Sleep(20 * time.Millisecond)
	}
}
