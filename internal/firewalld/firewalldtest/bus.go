// Package firewalldtest runs a private dbus-daemon for tests and emits
// firewalld's Reloaded signal on it. It never touches the system bus.
package firewalldtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/recidivist/recidivist/internal/firewalld"
	"github.com/recidivist/recidivist/internal/testenv"
)

// Bus is a private dbus-daemon listening on a socket in a test's temporary
// directory.
type Bus struct {
	// Addr is its address, for firewalld.Watcher.Addr.
	Addr   string
	Socket string
	t      testing.TB
	config string
	cmd    *exec.Cmd
}

const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// Start starts a private bus, stopped when the test ends. Without
// dbus-daemon the test is skipped (failed under CI=true).
func Start(t testing.TB) *Bus {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testenv.SkipOrFail(t, "no dbus-daemon (apt-get install dbus-daemon)")
	}
	dir, err := os.MkdirTemp("", "recidivist-bus-") // short: a socket path has 107 bytes at most
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &Bus{t: t, Socket: filepath.Join(dir, "bus"), config: filepath.Join(dir, "bus.conf")}
	b.Addr = "unix:path=" + b.Socket
	if err := os.WriteFile(b.config, fmt.Appendf(nil, config, b.Socket), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Restart starts the bus again on the same socket after Stop (or starts
// it the first time).
func (b *Bus) Restart() {
	b.t.Helper()
	cmd := exec.Command("dbus-daemon", "--config-file="+b.config, "--print-address", "--nofork")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting dbus-daemon: %v", err)
	}
	b.cmd = cmd
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, r) // keep the pipe drained
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "unix:") {
			b.Stop()
			b.t.Fatalf("dbus-daemon printed no address (%q): %s", s, stderr.String())
		}
	case <-time.After(30 * time.Second):
		b.Stop()
		b.t.Fatalf("dbus-daemon did not start within 30s: %s", stderr.String())
	}
}

// Stop stops the bus (by its PID) and waits for it; connections to it end.
func (b *Bus) Stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill() // it may be gone already
	_ = b.cmd.Wait()         // killed: the error says so
	b.cmd = nil
	os.Remove(b.Socket) // dbus-daemon killed leaves it
}

// EmitReloaded sends firewalld's Reloaded signal on the bus, as firewalld
// does at the end of a reload.
func (b *Bus) EmitReloaded() {
	b.t.Helper()
	conn, err := dbus.Connect(b.Addr)
	if err != nil {
		b.t.Fatalf("connecting to the test bus: %v", err)
	}
	defer conn.Close()
	if err := conn.Emit(firewalld.Path, firewalld.Interface+"."+firewalld.Member); err != nil {
		b.t.Fatalf("emitting Reloaded: %v", err)
	}
}
