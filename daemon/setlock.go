package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSetsTaken means another recidivist daemon already manages the same
// sets in this network namespace.
var ErrSetsTaken = errors.New("another recidivist daemon manages the same sets")

// SetLock is held by the one daemon that manages the sets of a set name in
// a network namespace. It is an abstract unix socket named after the sets:
// the kernel keeps abstract socket names per network namespace and frees
// them when the holder exits, however it exits, so two daemons with
// different state dirs still cannot manage the same sets, while daemons in
// different namespaces (each with its own sets) do not collide.
type SetLock struct {
	ln   *net.UnixListener
	done chan struct{}
}

// setLockName is the abstract socket name for the sets of setName.
func setLockName(setName string) string { return "@recidivist/sets/" + setName }

// AcquireSets takes the set lock of setName for a daemon on stateDir. When
// another daemon holds it the error wraps ErrSetsTaken and names that
// daemon's PID and state dir.
func AcquireSets(setName, stateDir string) (*SetLock, error) {
	addr := &net.UnixAddr{Name: setLockName(setName), Net: "unix"}
	// Twice: the holder may exit between our failed bind and our dial.
	for range 2 {
		ln, err := net.ListenUnix("unix", addr)
		if err == nil {
			l := &SetLock{ln: ln, done: make(chan struct{})}
			go l.serve(stateDir)
			return l, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("taking the lock of sets %s: %w", setName, err)
		}
		pid, dir, derr := askHolder(addr)
		if derr != nil {
			continue
		}
		return nil, fmt.Errorf("%w %s and %s6 in this network namespace (PID %d, state dir %s): one daemon per set names; stop it first (kill %d, or systemctl stop recidivist), or give this one its own set-name",
			ErrSetsTaken, setName, setName, pid, dir, pid)
	}
	return nil, fmt.Errorf("%w %s and %s6 in this network namespace (it did not say which); stop it first, or give this one its own set-name", ErrSetsTaken, setName, setName)
}

// serve answers every connection with this daemon's state dir, until
// Release.
func (l *SetLock) serve(stateDir string) {
	defer close(l.done)
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return // closed by Release
		}
		c.SetWriteDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // best effort: a stuck reader only loses the answer
		fmt.Fprintf(c, "%s\n", stateDir)                    //nolint:errcheck // as above
		c.Close()                                           //nolint:errcheck // as above
	}
}

// Release frees the set name for another daemon.
func (l *SetLock) Release() error {
	err := l.ln.Close()
	<-l.done
	return err
}

// askHolder asks the daemon holding addr for its PID (from the kernel's
// peer credentials) and state dir.
func askHolder(addr *net.UnixAddr) (int, string, error) {
	c, err := net.DialUnix("unix", nil, addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	pid := 0
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { //nolint:errcheck // the PID only improves the message
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				pid = int(cred.Pid)
			}
		})
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return 0, "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return pid, "", err
	}
	return pid, strings.TrimSpace(line), nil
}
