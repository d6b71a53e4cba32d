package main

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/statedir"
)

// TestMigrate_lets_no_packet_of_a_blocked_address_through_during_the_switch
// sends UDP datagrams from a blocked and from a free address every
// millisecond while migrate moves 100k entries to nftables and back: the
// server must hear the free address throughout and the blocked one never.
func TestMigrate_lets_no_packet_of_a_blocked_address_through_during_the_switch(t *testing.T) {
	pair := netnstest.NewPair(t, []netip.Prefix{netip.MustParsePrefix("10.201.0.1/24")},
		[]netip.Prefix{netip.MustParsePrefix("10.201.0.2/24"), netip.MustParsePrefix("10.201.0.3/24")})
	blocked, free := netip.MustParseAddr("10.201.0.2"), netip.MustParseAddr("10.201.0.3")
	state := t.TempDir()
	writeMirror(t, state, 100_000)
	f, err := os.OpenFile(statedir.Mirror(state), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(blocked.String() + " # the prober\n")
	f.Close()
	common := []string{"--state-dir", state, "--set-name", "rcdvsw"}
	if code, _, errOut := invoke(t, append([]string{"restore"}, common...)...); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}

	// The listener lives in the server namespace: made here, on the test's thread.
	ln, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.201.0.1:9999")))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	heard := map[netip.Addr]int{}
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := ln.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			heard[from.Addr().Unmap()]++
			mu.Unlock()
		}
	}()
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		sent <- netnstest.InNamespace(pair.Client, func() error {
			var conns []*net.UDPConn
			for _, src := range []netip.Addr{blocked, free} {
				c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.201.0.1:9999")))
				if err != nil {
					return err
				}
				defer c.Close()
				conns = append(conns, c)
			}
			for {
				select {
				case <-stop:
					return nil
				case <-time.After(time.Millisecond):
				}
				for _, c := range conns {
					c.Write([]byte("probe")) //nolint:errcheck // a dropped datagram is what the test looks for
				}
			}
		})
	}()
	count := func(a netip.Addr) int {
		mu.Lock()
		defer mu.Unlock()
		return heard[a]
	}
	waitHeard := func(min int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count(free) < min {
			if time.Now().After(deadline) {
				t.Fatalf("the free address was heard %d times in 30s, want %d: the prober does not work", count(free), min)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHeard(20)
	for _, to := range []string{"nftables", "ipset"} {
		before := count(free)
		if code, out, errOut := invoke(t, append([]string{"migrate", "--to", to}, common...)...); code != 0 || !strings.Contains(out, "migrated") {
			t.Fatalf("migrate --to %s: exit %d, %q, %q", to, code, out, errOut)
		}
		waitHeard(before + 20)
	}
	close(stop)
	if err := <-sent; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if n := count(blocked); n != 0 {
		t.Errorf("%d datagrams of the blocked address %s got through during the migrations", n, blocked)
	}
	t.Logf("free address heard %d times, blocked address %d", count(free), count(blocked))
}
