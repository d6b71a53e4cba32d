package blocklist

import (
	"fmt"
	"net/netip"

	"github.com/recidivist/recidivist/internal/addr"
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
	p, err := addr.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing %q: %w (%v)", s, ErrNotAddress, err)
	}
	return p, nil
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

// canonical is addr.Canonical: the one spelling of a prefix.
func canonical(p netip.Prefix) netip.Prefix { return addr.Canonical(p) }

// formatPrefix writes a single address without its /32 or /128, as people
// and the iptables-repeater recipe write it.
func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
