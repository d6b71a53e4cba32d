package main

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// prober answers whether an address is blocked yet, as the kernel sees it.
type prober interface {
	Has(a netip.Addr) (bool, error)
	Pause() // between two polls
	Close()
	String() string
}

// setProber tests ipset membership over netlink: a round trip of some
// microseconds, so it can poll every 100µs.
type setProber struct {
	h   *netlink.Handle
	set string
}

func newSetProber(set string) (*setProber, error) {
	h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	p := &setProber{h: h, set: set}
	deadline := time.Now().Add(30 * time.Second)
	for { // the daemon creates the set when it starts
		if _, err := h.IpsetList(set); err == nil {
			return p, nil
		} else if time.Now().After(deadline) {
			h.Close()
			return nil, fmt.Errorf("ipset %s did not appear within 30s: %w", set, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *setProber) Has(a netip.Addr) (bool, error) {
	ok, err := p.h.IpsetTest(p.set, &netlink.IPSetEntry{IP: net.IP(a.AsSlice()), CIDR: uint8(a.BitLen())})
	if err != nil {
		return false, fmt.Errorf("testing %s in ipset %s: %w", a, p.set, err)
	}
	return ok, nil
}

func (p *setProber) Pause()         { time.Sleep(100 * time.Microsecond) }
func (p *setProber) Close()         { p.h.Close() }
func (p *setProber) String() string { return "netlink ipset test every 100µs" }

// chainProber lists fail2ban's chain with iptables -S: a fork and exec per
// poll (a few ms) plus a 2ms pause, fine beside fail2ban's latencies of
// tenths of seconds.
type chainProber struct {
	chain string
	torn  int // listings that met the chain in the middle of a change
}

func newChainProber(chain string) *chainProber { return &chainProber{chain: chain} }

func (p *chainProber) Has(a netip.Addr) (bool, error) {
	out, err := exec.Command("iptables", "-w", "-S", p.chain).CombinedOutput()
	switch {
	case err != nil && strings.Contains(string(out), "No chain"):
		return false, nil // fail2ban creates it with the first ban
	case err != nil && strings.Contains(string(out), "is incompatible"):
		// iptables-nft read the chain while fail2ban's iptables was
		// changing it; the next poll sees it whole.
		p.torn++
		return false, nil
	case err != nil:
		return false, fmt.Errorf("iptables -S %s: %w: %s", p.chain, err, out)
	}
	return strings.Contains(string(out), " -s "+a.String()+"/32 "), nil
}

// Pause leaves fail2ban's own iptables calls some room between listings
// (a faster loop was tried: fail2ban's figures did not change).
func (p *chainProber) Pause() { time.Sleep(2 * time.Millisecond) }
func (p *chainProber) Close() {}
func (p *chainProber) String() string {
	return fmt.Sprintf("iptables -S %s every 2ms, %d torn listings retried", p.chain, p.torn)
}
