package ipsetstore_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

// TestBlockedSourcesCannotConnect sends real packets between two network
// namespaces joined by a veth pair: the server's INPUT rule drops the
// blocked source (a single address or a range), lets the other through,
// and lets the blocked one through again once it is deleted from the set.
func TestBlockedSourcesCannotConnect(t *testing.T) {
	blockedSourcesCannotConnect(t, func(t *testing.T, cfg ipsetstore.Config) ipsetstore.Store { return openStore(t, cfg) })
}

// TestBlockedSourcesCannotConnectThroughNftables is the same with the
// nftables backend.
func TestBlockedSourcesCannotConnectThroughNftables(t *testing.T) {
	blockedSourcesCannotConnect(t, func(t *testing.T, cfg ipsetstore.Config) ipsetstore.Store {
		s, err := nftstore.New(cfg)
		if err != nil {
			t.Fatalf("nftstore.New: %v", err)
		}
		t.Cleanup(func() { s.Close() }) //nolint:errcheck // test teardown
		return s
	})
}

func blockedSourcesCannotConnect(t *testing.T, open func(*testing.T, ipsetstore.Config) ipsetstore.Store) {
	pair := netnstest.NewPair(t,
		[]netip.Prefix{pfx("10.200.0.1/24"), pfx("fd00:200::1/64")},
		[]netip.Prefix{pfx("10.200.0.2/24"), pfx("10.200.0.3/24"), pfx("10.200.0.5/24"), pfx("10.200.0.6/24"), pfx("fd00:200::2/64"), pfx("fd00:200::3/64")})
	s := open(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	mustEnsure(t, s)
	cases := []struct {
		name              string
		server            string
		block             netip.Prefix
		blocked, unblockd netip.Addr
	}{
		{"ipv4", "10.200.0.1", pfx("10.200.0.2"), pfx("10.200.0.2").Addr(), pfx("10.200.0.3").Addr()},
		{"ipv4_range", "10.200.0.1", pfx("10.200.0.4/31"), pfx("10.200.0.5").Addr(), pfx("10.200.0.6").Addr()},
		{"ipv6", "fd00:200::1", pfx("fd00:200::2"), pfx("fd00:200::2").Addr(), pfx("fd00:200::3").Addr()},
	}
	for _, c := range cases {
		// Listen here, on the test's thread, which is in the server
		// namespace; subtests run on other threads.
		ln, err := net.Listen("tcp", net.JoinHostPort(c.server, "0"))
		if err != nil {
			t.Fatalf("listening on %s: %v", c.server, err)
		}
		t.Cleanup(func() { ln.Close() }) //nolint:errcheck // test teardown
		go accept(ln)
		target := netip.MustParseAddrPort(ln.Addr().String())
		t.Run(c.name, func(t *testing.T) {
			dial := func(src netip.Addr) error {
				return netnstest.InNamespace(pair.Client, func() error {
					d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 700 * time.Millisecond}
					conn, err := d.Dial("tcp", target.String())
					if err != nil {
						return err
					}
					return conn.Close()
				})
			}
			mustAdd(t, s, ipsetstore.Entry{Prefix: c.block, Comment: "test"})
			if err := dial(c.blocked); err == nil {
				t.Errorf("blocked source %s connected to %s", c.blocked, target)
			} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Errorf("blocked source %s: %v, want a timeout (DROP)", c.blocked, err)
			}
			if err := dial(c.unblockd); err != nil {
				t.Errorf("unblocked source %s could not connect: %v", c.unblockd, err)
			}
			wantCounted(t, s, c.block)
			if err := s.Del(c.block); err != nil {
				t.Fatalf("Del: %v", err)
			}
			if err := dial(c.blocked); err != nil {
				t.Errorf("after unban %s still cannot connect: %v", c.blocked, err)
			}
		})
	}
}

// wantCounted checks that the entry of block, and only it, counted the
// packets it dropped (a TCP dial retries its SYN, so at least one).
func wantCounted(t *testing.T, s ipsetstore.Store, block netip.Prefix) {
	t.Helper()
	cs, err := s.(ipsetstore.Counter).ListCounted()
	if err != nil {
		t.Fatalf("ListCounted: %v", err)
	}
	found := false
	for _, e := range cs {
		switch {
		case e.Prefix == block:
			found = true
			if e.Packets == 0 || e.Bytes < e.Packets*40 {
				t.Errorf("%s dropped a dial but counted %d packets, %d bytes", block, e.Packets, e.Bytes)
			}
		case e.Packets != 0:
			t.Errorf("%s counted %d packets, want 0: only %s was dialled from", e.Prefix, e.Packets, block)
		}
	}
	if !found {
		t.Errorf("ListCounted = %+v, want %s in it", cs, block)
	}
}

// accept accepts and closes connections until ln is closed.
func accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close() //nolint:errcheck // the test only needs the handshake
	}
}
