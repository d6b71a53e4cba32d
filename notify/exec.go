package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hook runs notify-exec: the program itself, never through a shell (jail
// names and comments come from logs, which attackers write into), with the
// batch as a JSON array on stdin. Its whole process group is killed after
// timeout.
type hook struct {
	argv    []string
	timeout time.Duration
	cred    *syscall.Credential // notify-exec-user; nil: the daemon's own
}

func newHook(argv []string, timeout time.Duration, userName string) (*hook, error) {
	h := &hook{argv: argv, timeout: timeout}
	if userName != "" {
		cred, err := lookupCredential(userName)
		if err != nil {
			return nil, err
		}
		h.cred = cred
	}
	return h, nil
}

// lookupCredential is the uid, gid and groups of the user called name.
func lookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("notify-exec-user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("notify-exec-user %q: %w", name, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gs, err := u.GroupIds(); err == nil {
		for _, g := range gs {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

func (h *hook) name() string { return "notify-exec" }

func (h *hook) send(ctx context.Context, key string, evs []Event) error {
	body, err := json.Marshal(evs)
	if err != nil {
		return fmt.Errorf("encoding the events: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.argv[0], h.argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(env(evs), "RECIDIVIST_BATCH="+key)
	cmd.Dir = "/"
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: h.cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return &retryError{err: fmt.Errorf("%s: killed after notify-exec-timeout %s", h.argv[0], h.timeout)}
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			msg = ": " + msg
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return &retryError{err: fmt.Errorf("%s: %w%s", h.argv[0], err, msg)}
		}
		// Could not start it at all (missing, not executable): a person
		// fixes that; retrying meanwhile costs nothing.
		return &retryError{err: fmt.Errorf("running %s: %w", h.argv[0], err)}
	}
	return nil
}

// limitedBuffer keeps the first 512 bytes a hook writes, for the log.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 512 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
