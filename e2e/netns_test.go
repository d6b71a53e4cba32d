package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/vishvananda/netns"
)

// topology is two named network namespaces, srv and cli, joined by a veth
// pair: the daemon and a TCP listener live in srv, the clients whose
// packets must be dropped or let through dial from cli. Named namespaces
// (ip netns add) let the built binary run inside with `ip netns exec`.
type topology struct {
	srv, cli           string
	srvAddrs, cliAddrs []netip.Prefix
	up                 bool
}

// newTopology creates the two namespaces (names derived from tag and the
// test process id) and the veth pair with srvAddrs and cliAddrs on its two
// ends. t.Cleanup deletes whatever still exists, even on failure.
func newTopology(t *testing.T, tag string, srvAddrs, cliAddrs []netip.Prefix) *topology {
	t.Helper()
	netnstest.RequireRoot(t)
	tp := &topology{
		srv:      fmt.Sprintf("rcdv-%s-srv-%d", tag, os.Getpid()),
		cli:      fmt.Sprintf("rcdv-%s-cli-%d", tag, os.Getpid()),
		srvAddrs: srvAddrs,
		cliAddrs: cliAddrs,
	}
	t.Cleanup(func() {
		if tp.up {
			if err := tp.delete(); err != nil {
				t.Error(err)
			}
		}
	})
	tp.create(t)
	return tp
}

// create makes both namespaces and the veth pair afresh: empty kernel
// state, as after a reboot.
func (tp *topology) create(t *testing.T) {
	t.Helper()
	tp.up = true // from here on cleanup deletes what was made, even half of it
	steps := [][]string{
		{"netns", "add", tp.srv},
		{"netns", "add", tp.cli},
		{"-n", tp.srv, "link", "set", "lo", "up"},
		{"-n", tp.cli, "link", "set", "lo", "up"},
		{"-n", tp.srv, "link", "add", "e2e0", "type", "veth", "peer", "name", "e2e1", "netns", tp.cli},
	}
	for _, p := range tp.srvAddrs {
		steps = append(steps, addrAdd(tp.srv, "e2e0", p))
	}
	for _, p := range tp.cliAddrs {
		steps = append(steps, addrAdd(tp.cli, "e2e1", p))
	}
	steps = append(steps,
		[]string{"-n", tp.srv, "link", "set", "e2e0", "up"},
		[]string{"-n", tp.cli, "link", "set", "e2e1", "up"},
	)
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// addrAdd is the ip(8) argument list that puts p on dev in namespace ns;
// IPv6 addresses skip duplicate address detection so they work at once.
func addrAdd(ns, dev string, p netip.Prefix) []string {
	args := []string{"-n", ns, "addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	return args
}

// delete removes both namespaces; the kernel drops the veth pair, the sets
// and the rules with them once nothing holds the namespaces any more.
func (tp *topology) delete() error {
	tp.up = false
	var errs []string
	for _, ns := range []string{tp.srv, tp.cli} {
		out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "No such file") {
			errs = append(errs, fmt.Sprintf("ip netns del %s: %v: %s", ns, err, out))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting namespaces: %s", strings.Join(errs, "; "))
	}
	return nil
}

// reboot deletes both namespaces and makes them again with the same names
// and addresses: every set, rule and socket of the old ones is gone.
func (tp *topology) reboot(t *testing.T) {
	t.Helper()
	if err := tp.delete(); err != nil {
		t.Fatal(err)
	}
	tp.create(t)
}

// inNamespace runs fn on a throwaway OS thread inside the named namespace.
func inNamespace(name string, fn func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", name, err)
	}
	defer h.Close() //nolint:errcheck // a handle on /run/netns; nothing to recover
	return netnstest.InNamespace(h, fn)
}

// inNS is the argument list that runs name with args inside namespace ns.
func inNS(ns, name string, args ...string) []string {
	return append([]string{"netns", "exec", ns, name}, args...)
}

// newNamespace creates a named network namespace with loopback up;
// t.Cleanup deletes it.
func newNamespace(t *testing.T, tag string) string {
	t.Helper()
	netnstest.RequireRoot(t)
	name := fmt.Sprintf("rcdv-%s-%d", tag, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bringing lo up in %s: %v\n%s", name, err, out)
	}
	return name
}
