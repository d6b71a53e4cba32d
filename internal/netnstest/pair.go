package netnstest

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Pair is two network namespaces joined by a veth pair. The test's own
// thread is in Server (via Enter); Client is a second namespace whose
// addresses are Pair.ClientAddrs.
type Pair struct {
	Server, Client           netns.NsHandle
	ServerAddrs, ClientAddrs []netip.Prefix
}

// NewPair enters a fresh namespace (the server side, see Enter), creates a
// second one (the client side) and joins them with a veth pair carrying
// serverAddrs and clientAddrs, for example 10.200.0.1/24 and fd00:200::1/64
// on the server and 10.200.0.2/24, 10.200.0.3/24, fd00:200::2/64 on the
// client. IPv6 duplicate address detection is off so that the addresses
// work at once. Both namespaces are removed at cleanup.
func NewPair(t testing.TB, serverAddrs, clientAddrs []netip.Prefix) *Pair {
	t.Helper()
	server := Enter(t)
	client, err := netns.New() // switches this thread; go back below
	if err != nil {
		t.Fatalf("creating the client network namespace: %v", err)
	}
	t.Cleanup(func() { client.Close() }) //nolint:errcheck // last reference; the kernel removes it
	if err := netns.Set(server); err != nil {
		t.Fatalf("returning to the server namespace: %v", err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "srv0"}, PeerName: "cli0", PeerNamespace: netlink.NsFd(client)}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("creating the veth pair: %v", err)
	}
	if err := configure("srv0", serverAddrs); err != nil {
		t.Fatal(err)
	}
	err = InNamespace(client, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("finding lo in the client namespace: %w", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bringing lo up in the client namespace: %w", err)
		}
		return configure("cli0", clientAddrs)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Pair{Server: server, Client: client, ServerAddrs: serverAddrs, ClientAddrs: clientAddrs}
}

// configure puts addrs on the link named name and brings it up.
func configure(name string, addrs []netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	for _, p := range addrs {
		a, err := netlink.ParseAddr(p.String())
		if err != nil {
			return fmt.Errorf("parsing %s: %w", p, err)
		}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD // usable at once
		}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("adding %s to %s: %w", p, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// InNamespace runs fn on a fresh OS thread inside ns and returns its
// error. The thread is thrown away afterwards (never unlocked), so no other
// goroutine ever runs in ns by accident.
func InNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
