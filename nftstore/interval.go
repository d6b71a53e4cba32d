package nftstore

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/recidivist/recidivist/ipsetstore"
)

// interval is the half-open range [start, end) an nft interval set holds for
// a prefix: two elements, the second flagged as an interval end.
type interval struct {
	start, end netip.Addr
}

// intervalOf returns the interval of p. A prefix whose last address is the
// top of its address space (255.255.255.255, ffff:…:ffff) has no end
// element that google/nftables v0.3.0 can send, so it is refused with
// ErrBadPrefix.
func intervalOf(p netip.Prefix) (interval, error) {
	last := lastAddr(p)
	end := last.Next()
	if !end.IsValid() {
		return interval{}, fmt.Errorf("%w: %s reaches the top of the address space, which the nftables backend cannot hold", ipsetstore.ErrBadPrefix, p)
	}
	return interval{start: p.Masked().Addr(), end: end}, nil
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixOf returns the prefix covering [start, end), and whether it is
// exactly that range (anything recidivist added is; a range someone else
// added by hand may not be). end invalid means up to the top.
func prefixOf(start, end netip.Addr) (netip.Prefix, bool) {
	var last netip.Addr
	if end.IsValid() {
		last = end.Prev()
	} else {
		b := start.AsSlice()
		for i := range b {
			b[i] = 0xff
		}
		last, _ = netip.AddrFromSlice(b)
	}
	sb, lb := start.AsSlice(), last.AsSlice()
	bits := 0
	for bits < len(sb)*8 && bit(sb, bits) == bit(lb, bits) {
		bits++
	}
	p := netip.PrefixFrom(start, bits).Masked()
	return p, p.Addr() == start && lastAddr(p) == last
}

func bit(b []byte, i int) byte { return b[i/8] >> (7 - i%8) & 1 }

// dropCovered sorts es by address and drops every entry that another one
// contains (and repeated prefixes but the last): an nft interval set
// refuses overlapping elements where ipset's hash:net keeps both, and the
// wider range blocks the narrower anyway.
func dropCovered(es []ipsetstore.Entry) []ipsetstore.Entry {
	last := make(map[netip.Prefix]int, len(es))
	for i, e := range es {
		last[e.Prefix] = i
	}
	out := make([]ipsetstore.Entry, 0, len(last))
	for i, e := range es {
		if last[e.Prefix] == i {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b ipsetstore.Entry) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()) // the wider first
	})
	kept := out[:0]
	for _, e := range out {
		if n := len(kept); n > 0 {
			prev := kept[n-1].Prefix
			if prev.Addr().Is4() == e.Prefix.Addr().Is4() && prev.Bits() <= e.Prefix.Bits() && prev.Contains(e.Prefix.Addr()) {
				continue
			}
		}
		kept = append(kept, e)
	}
	return kept
}
