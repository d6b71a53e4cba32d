// Package addr holds the address rules every part of recidivist shares:
// how an address or range is spelt once and only once (Canonical,
// ParsePrefix), and what is never counted nor blocked (AlwaysIgnored).
// config, watcher and blocklist all use it, so that an address the ignore
// list names is the address the blocklist refuses and the tracker forgets.
package addr

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AlwaysIgnored are never counted and never blocked, whatever the
// configuration says: a host that blocks its own loopback breaks itself.
var AlwaysIgnored = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ErrZone means an address carries a zone (fe80::1%eth0): neither a kernel
// set nor the ignore list can hold one.
var ErrZone = errors.New("an address with a zone cannot be blocked or ignored")

// Canonical returns the one spelling of p: IPv4-mapped IPv6 prefixes of /96
// or longer (::ffff:192.0.2.0/120) are folded to IPv4, host bits are masked
// off and any zone is dropped. An invalid prefix stays invalid.
func Canonical(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// ParsePrefix reads "ADDR" or "ADDR/N" into its canonical prefix (see
// Canonical): a single address becomes /32 or /128. An address with a zone
// is refused with ErrZone.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return Canonical(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%w (remove the zone %%%s)", ErrZone, a.Zone())
	}
	return Canonical(netip.PrefixFrom(a, a.BitLen())), nil
}
