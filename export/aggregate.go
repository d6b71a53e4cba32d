package export

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

// u128 is an address as a 128-bit number (IPv4 in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) add1() (u128, bool) {
	lo, carry := bits.Add64(a.lo, 1, 0)
	hi, over := bits.Add64(a.hi, 0, carry)
	return u128{hi, lo}, over != 0
}

// ones returns a number whose low n bits are set (0 ≤ n ≤ 128).
func ones(n int) u128 {
	switch {
	case n >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case n >= 64:
		return u128{^uint64(0) >> (128 - n), ^uint64(0)}
	case n == 0:
		return u128{}
	default:
		return u128{0, ^uint64(0) >> (64 - n)}
	}
}

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }

func (a u128) trailingZeros() int {
	if a.lo != 0 {
		return bits.TrailingZeros64(a.lo)
	}
	if a.hi != 0 {
		return 64 + bits.TrailingZeros64(a.hi)
	}
	return 128
}

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var v u128
	for i := range 8 {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

func fromU128(v u128, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(v.lo >> 24), byte(v.lo >> 16), byte(v.lo >> 8), byte(v.lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(v.hi >> (8 * i))
		b[15-i] = byte(v.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// span is a range of addresses of one family, both ends included, with
// what the entries it covers say about time.
type span struct {
	first, last u128
	added       time.Time // latest Added of the entries merged
	expires     time.Time // latest Expires; zero if any entry is permanent
}

// aggregate merges es into the fewest prefixes that cover exactly the same
// addresses: a prefix inside another goes, adjacent or overlapping prefixes
// join, and the union is split again into the largest aligned CIDR blocks.
// A merged entry carries the latest Added and the latest Expires of its
// members (permanent if any member is): an external copy that lets a
// member go before the mirror does would let an attacker in. The result is
// sorted, IPv4 first. It changes the export only, never the mirror or the
// kernel.
func aggregate(es []blocklist.Entry) []blocklist.Entry {
	var out []blocklist.Entry
	for _, is4 := range []bool{true, false} {
		out = append(out, aggregateFamily(es, is4)...)
	}
	return out
}

func aggregateFamily(es []blocklist.Entry, is4 bool) []blocklist.Entry {
	width := 128
	if is4 {
		width = 32
	}
	var spans []span
	for _, e := range es {
		p := e.Prefix.Masked()
		if p.Addr().Is4() != is4 {
			continue
		}
		first := toU128(p.Addr())
		spans = append(spans, span{first: first, last: first.or(ones(width - p.Bits())), added: e.Added, expires: e.Expires})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.cmp(b.first) })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 {
			m := &merged[n-1]
			next, over := m.last.add1()
			if over || s.first.cmp(next) <= 0 { // overlaps or touches the previous span
				if s.last.cmp(m.last) > 0 {
					m.last = s.last
				}
				if s.added.After(m.added) {
					m.added = s.added
				}
				switch {
				case m.expires.IsZero() || s.expires.IsZero():
					m.expires = time.Time{}
				case s.expires.After(m.expires):
					m.expires = s.expires
				}
				continue
			}
		}
		merged = append(merged, s)
	}
	var out []blocklist.Entry
	for _, m := range merged {
		for _, p := range cidrs(m.first, m.last, width, is4) {
			out = append(out, blocklist.Entry{Prefix: p, Added: m.added, Expires: m.expires})
		}
	}
	return out
}

// cidrs splits first..last (both included) into the fewest aligned prefixes.
func cidrs(first, last u128, width int, is4 bool) []netip.Prefix {
	var out []netip.Prefix
	for {
		// The largest block that starts at first (its alignment) and ends
		// at or before last.
		size := min(first.trailingZeros(), width)
		for size > 0 && first.or(ones(size)).cmp(last) > 0 {
			size--
		}
		out = append(out, netip.PrefixFrom(fromU128(first, is4), width-size))
		end := first.or(ones(size))
		if end.cmp(last) >= 0 {
			return out
		}
		first, _ = end.add1() // end < last: no overflow
	}
}
