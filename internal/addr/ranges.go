package addr

import (
	"net/netip"
	"slices"
)

// Last returns the highest address of p.
func Last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// RangePrefixes returns the fewest prefixes that cover exactly the
// addresses from first to last (both included, one family), in address
// order.
func RangePrefixes(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for first.IsValid() && first.Compare(last) <= 0 {
		bits := first.BitLen()
		// Widen while the prefix stays aligned on first and within last.
		for bits > 0 {
			p := netip.PrefixFrom(first, bits-1)
			if p.Masked().Addr() != first || Last(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(first, bits)
		out = append(out, p)
		next := Last(p).Next()
		if !next.IsValid() {
			break // the top of the address space
		}
		first = next
	}
	return out
}

// Cover returns the fewest prefixes that cover exactly the addresses of ps
// (any mix of overlapping and adjacent prefixes of both families), in
// address order, IPv4 first: two holes side by side are one prefix when
// they fill one. Every store then holds a set of holes in the same spelling.
func Cover(ps []netip.Prefix) []netip.Prefix {
	type span struct{ first, last netip.Addr }
	spans := make([]span, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			p = p.Masked()
			spans = append(spans, span{p.Addr(), Last(p)})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.Compare(b.first) })
	var out []netip.Prefix
	for i := 0; i < len(spans); {
		cur := spans[i]
		i++
		for i < len(spans) && spans[i].first.Is4() == cur.first.Is4() {
			next := cur.last.Next()
			if next.IsValid() && spans[i].first.Compare(next) > 0 {
				break
			}
			if spans[i].last.Compare(cur.last) > 0 {
				cur.last = spans[i].last
			}
			i++
		}
		out = append(out, RangePrefixes(cur.first, cur.last)...)
	}
	return out
}

// Subtract returns the addresses of p outside bs (sorted and disjoint, as
// Cover returns them), as the fewest prefixes, in address order.
func Subtract(p netip.Prefix, bs []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	cur, last := p.Masked().Addr(), Last(p)
	for _, b := range bs {
		if !p.Overlaps(b) {
			continue
		}
		if cur.Less(b.Masked().Addr()) {
			out = append(out, RangePrefixes(cur, b.Masked().Addr().Prev())...)
		}
		next := Last(b).Next()
		if !next.IsValid() {
			return out // b reaches the top of the address space
		}
		if cur.Less(next) {
			cur = next
		}
	}
	if cur.Compare(last) <= 0 && p.Contains(cur) {
		out = append(out, RangePrefixes(cur, last)...)
	}
	return out
}
