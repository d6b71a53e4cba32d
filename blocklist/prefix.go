package blocklist

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefix parses "ADDR" or "ADDR/N" into its canonical prefix: a single
// address becomes /32 or /128, host bits are masked off (10.0.0.7/24 is
// 10.0.0.0/24) and IPv4-mapped IPv6 (::ffff:192.0.2.1) is folded to IPv4,
// so that one address has exactly one spelling. Zones (fe80::1%eth0) are
// refused: a firewall set cannot hold them.
func ParsePrefix(s string) (netip.Prefix, error) {
	if len(s) > maxPrefixText {
		// Whatever it is (a line of another file, say), it is no address;
		// only its start is shown, escaped.
		return netip.Prefix{}, fmt.Errorf("parsing %s: %w (%d bytes, far too long for one)", shortQuote(s), ErrNotAddress, len(s))
	}
	var (
		p   netip.Prefix
		err error
	)
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		if err == nil {
			if a.Zone() != "" {
				return netip.Prefix{}, fmt.Errorf("parsing %q: %w (remove the zone %%%s)", s, ErrNotAddress, a.Zone())
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing %q: %w (%v)", s, ErrNotAddress, err)
	}
	return canonical(p), nil
}

// maxPrefixText is more than the longest spelling of a prefix
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 50 bytes).
const maxPrefixText = 64

// shortText is how many bytes of a text that is not what it should be an
// error shows.
const shortText = 80

// shortQuote returns the first shortText bytes of s, Go-quoted (control and
// invalid bytes escaped), followed by "..." when s is longer: the way
// recidivist shows text it did not write, in messages and logs.
func shortQuote(s string) string {
	if len(s) <= shortText {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:shortText])
}

// canonical masks p and folds IPv4-mapped IPv6 prefixes of /96 or longer to
// IPv4. An invalid prefix stays invalid.
func canonical(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	a := p.Addr().WithZone("")
	bits := p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// formatPrefix writes a single address without its /32 or /128, as people
// and the iptables-repeater recipe write it.
func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
