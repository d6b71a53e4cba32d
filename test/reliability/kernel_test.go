package reliability

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/internal/e2etest"
	"github.com/recidivist/recidivist/internal/netnstest"
)

// namespace is a named network namespace (`ip netns add`), so that the
// built binary runs inside with `ip netns exec` and a reboot is a delete
// and add of the same name.
type namespace struct{ name string }

// newNamespace creates a named network namespace with loopback up;
// t.Cleanup deletes it.
func newNamespace(t *testing.T, tag string) *namespace {
	t.Helper()
	netnstest.RequireRoot(t)
	ns := &namespace{name: fmt.Sprintf("rlb-%s-%d", tag, os.Getpid())}
	ns.create(t)
	t.Cleanup(func() {
		if err := ns.delete(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

func (ns *namespace) create(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{{"netns", "add", ns.name}, {"-n", ns.name, "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func (ns *namespace) delete() error {
	out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns del %s: %w: %s", ns.name, err, out)
	}
	return nil
}

// reboot deletes the namespace and makes it again under the same name:
// every set, rule and socket of the old one is gone.
func (ns *namespace) reboot(t *testing.T) {
	t.Helper()
	if err := ns.delete(); err != nil {
		t.Fatal(err)
	}
	ns.create(t)
}

// do runs fn on a throwaway OS thread inside the namespace.
func (ns *namespace) do(fn func() error) error {
	h, err := netns.GetFromName(ns.name)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns.name, err)
	}
	defer h.Close() //nolint:errcheck // a handle on /run/netns; nothing to recover
	return netnstest.InNamespace(h, fn)
}

// errNoSet is setMembers' error when the set does not exist.
var errNoSet = errors.New("no such set")

// setMembers lists the entries of the ipset named set in the namespace,
// read over netlink as the kernel sees them, not through recidivist.
func (ns *namespace) setMembers(set string) (map[netip.Prefix]bool, error) {
	ps, err := e2etest.SetMembers(ns.name, set)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "does not exist") {
			return nil, fmt.Errorf("%w: %w", errNoSet, err)
		}
		return nil, err
	}
	out := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		out[p] = true
	}
	return out, nil
}

// kernel is the union of both families' sets (set and set+"6"); a set that
// does not exist counts as empty.
func (ns *namespace) kernel(set string) (map[netip.Prefix]bool, error) {
	all := map[netip.Prefix]bool{}
	for _, name := range []string{set, set + "6"} {
		m, err := ns.setMembers(name)
		if errors.Is(err, errNoSet) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for p := range m {
			all[p] = true
		}
	}
	return all, nil
}

// rulesInPlace reports whether iptables' and ip6tables' INPUT chains each
// hold a rule matching on set (set+"6" for IPv6).
func (ns *namespace) rulesInPlace(set string) (bool, error) {
	for _, tool := range []string{"iptables", "ip6tables"} {
		name := set
		if tool == "ip6tables" {
			name += "6"
		}
		out, err := exec.Command("ip", "netns", "exec", ns.name, tool, "-w", "-S", "INPUT").CombinedOutput()
		if err != nil {
			return false, fmt.Errorf("%s -S INPUT in %s: %w: %s", tool, ns.name, err, out)
		}
		if !strings.Contains(string(out), "--match-set "+name+" src") {
			return false, nil
		}
	}
	return true, nil
}

// loopbackReachable dials a listener on 127.0.0.1 and one on ::1 inside the
// namespace; it returns an error naming the first that cannot be reached
// within two seconds (a DROP rule matching loopback makes the dial time
// out).
func (ns *namespace) loopbackReachable() error {
	return ns.do(func() error {
		for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close() //nolint:errcheck // the handshake is what counts
				}
			}()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
			ln.Close() //nolint:errcheck // a test listener
			if err != nil {
				return fmt.Errorf("connecting to %s over loopback: %w", ln.Addr(), err)
			}
			c.Close() //nolint:errcheck // connected is all we wanted
		}
		return nil
	})
}
