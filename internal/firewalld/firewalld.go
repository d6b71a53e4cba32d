// Package firewalld follows firewalld's Reloaded signal on the system bus,
// so that the daemon checks its rules the moment a `firewall-cmd --reload`
// ends, also where the reload sends no nf_tables event (firewalld's
// iptables backend on iptables-legacy). Without a system bus it stays off.
package firewalld

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// What firewalld sends when a reload has ended.
const (
	Interface = "org.fedoraproject.FirewallD1"
	Path      = dbus.ObjectPath("/org/fedoraproject/FirewallD1")
	Member    = "Reloaded"
)

// SystemBus is the address of the system bus.
const SystemBus = "unix:path=/run/dbus/system_bus_socket"

// Watcher follows firewalld's reloads. The zero value follows the system
// bus.
type Watcher struct {
	// Addr is the bus's address (D-Bus syntax); default SystemBus.
	Addr string
	// Log gets the watcher's own lines; default slog.Default().
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before connecting again
	// after the bus went away; defaults 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	// Subscribed, when set, is called each time the watcher is subscribed
	// to the signal (tests wait on it before they emit).
	Subscribed func()
}

// Run calls fn on each Reloaded signal until ctx ends. A bus whose socket
// does not exist when Run starts turns the watcher off (logged at debug):
// Run returns nil. A bus that goes away, or refuses the connection, is
// tried again with backoff. fn must not block: it runs on the watcher's
// goroutine. Run returns nil, whatever happens.
func (w *Watcher) Run(ctx context.Context, fn func()) error {
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	addr := w.Addr
	if addr == "" {
		addr = SystemBus
	}
	minWait, maxWait := w.MinBackoff, w.MaxBackoff
	if minWait <= 0 {
		minWait = time.Second
	}
	if maxWait < minWait {
		maxWait = max(time.Minute, minWait)
	}
	if path, ok := socketPath(addr); ok {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			log.Debug("no system bus: not following firewalld's reloads (the nf_tables watch still sees them)", "socket", path)
			return nil
		}
	}
	wait := minWait
	warned := false
	for {
		subscribed, err := w.follow(ctx, addr, fn)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			wait, warned = minWait, false
			log.Info("the system bus went away; connecting again to follow firewalld's reloads", "address", addr, "err", err)
		} else if !warned {
			log.Warn("cannot follow firewalld's reloads on the system bus; trying again (the nf_tables watch still sees them)", "address", addr, "err", err)
			warned = true
		} else {
			log.Debug("still cannot follow firewalld's reloads", "address", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// follow connects, subscribes and calls fn on each signal until the
// connection ends or ctx does. subscribed says it got as far as the
// subscription.
func (w *Watcher) follow(ctx context.Context, addr string, fn func()) (subscribed bool, err error) {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("connecting to the bus: %w", err)
	}
	defer conn.Close() //nolint:errcheck // done with it either way
	ch := make(chan *dbus.Signal, 16)
	conn.Signal(ch)
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchObjectPath(Path),
		dbus.WithMatchInterface(Interface),
		dbus.WithMatchMember(Member),
	); err != nil {
		return false, fmt.Errorf("subscribing to %s.%s: %w", Interface, Member, err)
	}
	if w.Subscribed != nil {
		w.Subscribed()
	}
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case s, ok := <-ch:
			if !ok {
				return true, errors.New("connection closed")
			}
			if s.Path == Path && s.Name == Interface+"."+Member {
				fn()
			}
		}
	}
}

// socketPath returns the socket of a unix:path= address.
func socketPath(addr string) (string, bool) {
	rest, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(rest, ",") {
		if p, ok := strings.CutPrefix(kv, "path="); ok {
			return p, true
		}
	}
	return "", false
}
