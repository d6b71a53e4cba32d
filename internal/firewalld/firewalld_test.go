package firewalld_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/firewalld"
	"github.com/recidivist/recidivist/internal/firewalld/firewalldtest"
	"github.com/recidivist/recidivist/internal/testenv"
)

// run starts w.Run on the bus and returns the count of reloads seen, a
// channel of subscriptions and a wait for Run's end.
func run(t *testing.T, w *firewalld.Watcher) (*atomic.Int64, chan struct{}, context.CancelFunc, chan error) {
	t.Helper()
	subs := make(chan struct{}, 8)
	w.Subscribed = func() { subs <- struct{}{} }
	w.Log = slog.New(slog.NewTextHandler(&testenv.Buffer{}, nil))
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func() { n.Add(1) }) }()
	t.Cleanup(func() { cancel(); <-done })
	return &n, subs, cancel, done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s within 30s", what)
		}
	}
}

func subscribed(t *testing.T, subs chan struct{}) {
	t.Helper()
	select {
	case <-subs:
	case <-time.After(30 * time.Second):
		t.Fatal("the watcher did not subscribe within 30s")
	}
}

func TestWatcher_calls_back_on_each_Reloaded_signal(t *testing.T) {
	bus := firewalldtest.Start(t)
	n, subs, _, _ := run(t, &firewalld.Watcher{Addr: bus.Addr})
	subscribed(t, subs)
	bus.EmitReloaded()
	waitFor(t, "first reload", func() bool { return n.Load() == 1 })
	bus.EmitReloaded()
	waitFor(t, "second reload", func() bool { return n.Load() == 2 })
}

func TestWatcher_follows_the_signal_dbus_send_emits(t *testing.T) {
	bus := firewalldtest.Start(t)
	n, subs, _, _ := run(t, &firewalld.Watcher{Addr: bus.Addr})
	subscribed(t, subs)
	if _, err := exec.LookPath("dbus-send"); err != nil {
		testenv.SkipOrFail(t, "no dbus-send (apt-get install dbus-bin)")
	}
	// Signals of another interface or member are no reload.
	for _, args := range [][]string{
		{"/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.PanicModeEnabled"},
		{"/org/fedoraproject/FirewallD1", "org.example.Other.Reloaded"},
		{"/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.Reloaded"},
	} {
		out, err := exec.Command("dbus-send", append([]string{"--bus=" + bus.Addr, "--type=signal"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dbus-send %v: %v: %s", args, err, out)
		}
	}
	waitFor(t, "reload", func() bool { return n.Load() >= 1 })
	time.Sleep(200 * time.Millisecond) // signals arrive in order: the others were there first
	if got := n.Load(); got != 1 {
		t.Errorf("%d reloads seen, want 1: only Reloaded of firewalld's interface is one", got)
	}
}

func TestWatcher_connects_again_when_the_bus_comes_back(t *testing.T) {
	bus := firewalldtest.Start(t)
	n, subs, _, _ := run(t, &firewalld.Watcher{Addr: bus.Addr, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	subscribed(t, subs)
	bus.Stop()
	time.Sleep(200 * time.Millisecond) // a few failed attempts while it is gone
	bus.Restart()
	subscribed(t, subs)
	bus.EmitReloaded()
	waitFor(t, "reload after the bus came back", func() bool { return n.Load() == 1 })
}

func TestWatcher_is_off_without_a_bus_socket(t *testing.T) {
	_, _, _, done := run(t, &firewalld.Watcher{Addr: "unix:path=" + filepath.Join(t.TempDir(), "none")})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil: no bus is no error", err)
		}
		done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Run still runs without a bus socket")
	}
}

func TestWatcher_ends_with_its_context(t *testing.T) {
	bus := firewalldtest.Start(t)
	_, subs, cancel, done := run(t, &firewalld.Watcher{Addr: bus.Addr})
	subscribed(t, subs)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}
