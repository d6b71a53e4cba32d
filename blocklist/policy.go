package blocklist

import (
	"fmt"
	"net/netip"

	"github.com/recidivist/recidivist/internal/addr"
)

// Widest ranges that may be blocked without force.
const (
	minBits4 = 16
	minBits6 = 32
)

// Policy holds the refusal rules: the one place that decides whether a
// prefix may be blocked at all. The daemon asks it before blocking an
// offender, the ban command before a manual ban.
type Policy struct {
	// Ignore lists what is never blocked; 127.0.0.0/8 and ::1 are always
	// in it, whether listed here or not.
	Ignore []netip.Prefix
}

// Check returns nil if pfx may be blocked, else an error wrapping one of:
// ErrEverything (0.0.0.0/0, ::/0, even with force), ErrIgnored (pfx is in or
// overlaps the ignore list; force does not override it — edit the list),
// ErrNotUnicast (multicast, broadcast or unspecified), ErrTooWide (wider than
// /16 for IPv4 or /32 for IPv6, unless force), or ErrNotAddress. The message
// says what to do.
func (p Policy) Check(pfx netip.Prefix, force bool) error {
	return p.check(pfx, force, func(netip.Prefix) string { return "use --force if you really mean it" })
}

// CheckEntry is Check for a line of the mirror: force is the line's force
// mark, and the message says how to mark a wide range. The mirror applies it
// to every line it reads (see File.SetPolicy).
func (p Policy) CheckEntry(e Entry) error {
	return p.check(e.Prefix, e.Force, lineWideFix)
}

// lineWideFix is the advice for a mirror line of a range too wide.
func lineWideFix(pfx netip.Prefix) string {
	return fmt.Sprintf("to keep it, run recidivist ban --force %s (it writes the line again with the force mark)", pfx)
}

// check is Check with the advice for a range too wide given: it is built
// only when needed, as check runs for every line of a big mirror.
func (p Policy) check(pfx netip.Prefix, force bool, wideFix func(netip.Prefix) string) error {
	if !pfx.IsValid() {
		return fmt.Errorf("checking %s: %w", pfx, ErrNotAddress)
	}
	pfx = canonical(pfx)
	if pfx.Bits() == 0 {
		return fmt.Errorf("%s %w; that is never allowed", pfx, ErrEverything)
	}
	if ig, always, ok := p.ignored(pfx); ok {
		if always {
			return fmt.Errorf("%s is %w (%s, the loopback, which is never blocked)", formatPrefix(pfx), ErrIgnored, formatPrefix(ig))
		}
		return fmt.Errorf("%s is %w (%s); remove %s from the ignore setting to block it", formatPrefix(pfx), ErrIgnored, formatPrefix(ig), formatPrefix(ig))
	}
	if a := pfx.Addr(); a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%s is %w: no packet comes from it, there is nothing to block", formatPrefix(pfx), ErrNotUnicast)
	}
	widest := minBits4
	if pfx.Addr().Is6() {
		widest = minBits6
	}
	if pfx.Bits() < widest && !force {
		return fmt.Errorf("%s is a %w (wider than /%d); %s", pfx, ErrTooWide, widest, wideFix(pfx))
	}
	return nil
}

// ignored returns the ignore-list entry pfx is in or overlaps, and whether
// it is one of the always ignored.
func (p Policy) ignored(pfx netip.Prefix) (ig netip.Prefix, always, ok bool) {
	for i, list := range [][]netip.Prefix{addr.AlwaysIgnored, p.Ignore} {
		for _, ig := range list {
			if !ig.IsValid() {
				continue
			}
			if ig = canonical(ig); ig.Overlaps(pfx) {
				return ig, i == 0, true
			}
		}
	}
	return netip.Prefix{}, false, false
}
