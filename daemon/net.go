package daemon

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/addr"
	"github.com/recidivist/recidivist/ipsetstore"
)

// Net escalation (net-escalation = true): once net-threshold-v4 (v6)
// distinct addresses of one /net-prefix-v4 (v6) network are blocked
// automatic offenders, the network is blocked as one range.
//
//   - The mirror gets the range's line ("net members=A,B,C"); the members'
//     own lines stay (their history, their expiry), but the kernel holds
//     the range in their place: kernelEntries hides them, and the switch is
//     one Store.Exchange, so no member passes for an instant.
//   - `unban` of an address inside the range punches a hole (holes=…; ipset
//     nomatch, an interval split on nftables) and forgives it; when fewer
//     members than the threshold remain, the range collapses back to them.
//   - `unban` of the range removes it, its holes and its members' lines:
//     the admin asked for the network to pass, and members left behind
//     would be blocked again one by one.
//
// The mirror is the truth: restore and the reconcile put ranges, hidden
// members and holes in the kernel from it alone (kernelEntries).

// ErrNetRefused wraps why a network may not be escalated.
var ErrNetRefused = errors.New("net escalation refused")

// netMember reports whether e counts toward net escalation: an automatic
// block of one address decided on this host (not manual, not a fleet
// record, not written by hand).
func netMember(e blocklist.Entry) bool {
	return e.Prefix.IsSingleIP() && e.Bans > 0 && !e.Manual && !e.Net && fleetHost(e) == ""
}

// NetCandidate is a network with enough blocked offenders to escalate.
type NetCandidate struct {
	Prefix  netip.Prefix
	Members []blocklist.Entry // in address order
	// Refused says why it may not be blocked (an ignore entry or a local
	// address inside, too wide); nil: it may.
	Refused error
}

// NetCandidates returns the networks of es (in force at now) that hold at
// least the threshold of distinct blocked automatic offenders and that no
// listed range covers yet, in address order, each checked against the
// policy and the host's own addresses (local).
func NetCandidates(es []blocklist.Entry, n config.Net, policy blocklist.Policy, local []netip.Addr, now time.Time) []NetCandidate {
	ranges := map[netip.Prefix]bool{}
	for e := range blocklist.InForce(es, now) {
		if !e.Prefix.IsSingleIP() {
			ranges[e.Prefix] = true
		}
	}
	covered := func(a netip.Addr) bool {
		for bits := a.BitLen() - 1; bits > 0; bits-- {
			if ranges[netip.PrefixFrom(a, bits).Masked()] {
				return true
			}
		}
		return false
	}
	groups := map[netip.Prefix][]blocklist.Entry{}
	for e := range blocklist.InForce(es, now) {
		a := e.Prefix.Addr()
		if !netMember(e) || covered(a) {
			continue
		}
		bits, _ := n.Prefix(a.Is4())
		p := netip.PrefixFrom(a, bits).Masked()
		groups[p] = append(groups[p], e)
	}
	var out []NetCandidate
	for p, ms := range groups {
		if _, threshold := n.Prefix(p.Addr().Is4()); len(ms) < threshold {
			continue
		}
		slices.SortFunc(ms, func(a, b blocklist.Entry) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
		out = append(out, NetCandidate{Prefix: p, Members: ms, Refused: netRefusal(p, policy, local)})
	}
	slices.SortFunc(out, func(a, b NetCandidate) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// netRefusal returns why p may not be escalated, or nil.
func netRefusal(p netip.Prefix, policy blocklist.Policy, local []netip.Addr) error {
	widest := config.NetWidestV4
	if p.Addr().Is6() {
		widest = config.NetWidestV6
	}
	if p.Bits() < widest {
		return fmt.Errorf("%w: %s is wider than /%d", ErrNetRefused, p, widest)
	}
	if err := policy.Check(p, false); err != nil {
		return fmt.Errorf("%w: %w", ErrNetRefused, err)
	}
	for _, a := range local {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s contains %s, an address of this host", ErrNetRefused, p, a)
		}
	}
	return nil
}

// netEntry is the mirror entry of candidate c: its members, their jails,
// their bans summed; it expires with the last of them.
func netEntry(c NetCandidate, now time.Time) blocklist.Entry {
	e := blocklist.Entry{Prefix: c.Prefix, Added: now.UTC().Truncate(time.Second), Net: true}
	permanent := false
	for _, m := range c.Members {
		e.Members = append(e.Members, m.Prefix.Addr())
		e.Bans += m.Bans
		for _, j := range m.Jails {
			if !slices.Contains(e.Jails, j) {
				e.Jails = append(e.Jails, j)
			}
		}
		if m.Expires.IsZero() {
			permanent = true
		} else if m.Expires.After(e.Expires) {
			e.Expires = m.Expires
		}
	}
	if permanent {
		e.Expires = time.Time{}
	}
	return e
}

// LocalAddrs returns the addresses of this host's interfaces: net
// escalation never blocks a network holding one.
func LocalAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// netIndex finds the in-force net range around an address.
type netIndex struct {
	ranges map[netip.Prefix]blocklist.Entry
	bits   []int // the prefix lengths in use, longest first
}

func newNetIndex(es []blocklist.Entry, now time.Time) netIndex {
	x := netIndex{ranges: map[netip.Prefix]blocklist.Entry{}}
	for e := range blocklist.InForce(es, now) {
		if e.Net {
			x.ranges[e.Prefix] = e
			if !slices.Contains(x.bits, e.Prefix.Bits()) {
				x.bits = append(x.bits, e.Prefix.Bits())
			}
		}
	}
	slices.SortFunc(x.bits, func(a, b int) int { return cmp.Compare(b, a) })
	return x
}

// around returns the net range strictly wider than p that contains it.
func (x netIndex) around(p netip.Prefix) (blocklist.Entry, bool) {
	for _, b := range x.bits {
		if b < p.Bits() {
			if r, ok := x.ranges[netip.PrefixFrom(p.Addr(), b).Masked()]; ok {
				return r, true
			}
		}
	}
	return blocklist.Entry{}, false
}

// inHole reports whether p lies in one of r's holes.
func inHole(r blocklist.Entry, p netip.Prefix) bool {
	return slices.ContainsFunc(r.Holes, func(h netip.Prefix) bool { return h.Bits() <= p.Bits() && h.Contains(p.Addr()) })
}

// KernelEntries is kernelEntries, for `recidivist check`.
func KernelEntries(es []blocklist.Entry, now time.Time) []ipsetstore.Entry {
	return kernelEntries(es, now)
}

// kernelEntries is what the kernel sets hold for the mirror entries es at
// now: every entry in force, except those a net range covers (outside its
// holes), plus each range's holes as nomatch entries, spelt as the fewest
// prefixes (addr.Cover) so that both backends list them alike. A line of
// its own inside a hole is blocked: the hole gives way around it.
func kernelEntries(es []blocklist.Entry, now time.Time) []ipsetstore.Entry {
	nets := newNetIndex(es, now)
	out := make([]ipsetstore.Entry, 0, len(es))
	var inHoles map[netip.Prefix][]netip.Prefix // range → lines of their own in its holes
	for e := range blocklist.InForce(es, now) {
		if r, ok := nets.around(e.Prefix); ok {
			if !inHole(r, e.Prefix) {
				continue // the range blocks it
			}
			if inHoles == nil {
				inHoles = map[netip.Prefix][]netip.Prefix{}
			}
			inHoles[r.Prefix] = append(inHoles[r.Prefix], e.Prefix)
		}
		out = append(out, KernelEntry(e, now))
	}
	for _, r := range nets.ranges {
		out = append(out, holeEntries(r, inHoles[r.Prefix])...)
	}
	return out
}

// holeEntries returns the nomatch entries of r's holes, leaving out the
// addresses of blocked lines (blocked) inside them.
func holeEntries(r blocklist.Entry, blocked []netip.Prefix) []ipsetstore.Entry {
	holes := addr.Cover(r.Holes)
	if len(blocked) > 0 {
		var left []netip.Prefix
		bs := addr.Cover(blocked)
		for _, h := range holes {
			left = append(left, addr.Subtract(h, bs)...)
		}
		holes = left
	}
	out := make([]ipsetstore.Entry, len(holes))
	for i, h := range holes {
		out[i] = ipsetstore.Entry{Prefix: h, NoMatch: true}
	}
	return out
}

// kernelOf returns the kernel entries of the mirror entries es inside r
// (r included): what a change of r must turn into another.
func kernelOf(es []blocklist.Entry, r netip.Prefix, now time.Time) []ipsetstore.Entry {
	var out []ipsetstore.Entry
	for _, k := range kernelEntries(es, now) {
		if r.Bits() <= k.Prefix.Bits() && r.Contains(k.Prefix.Addr()) {
			out = append(out, k)
		}
	}
	return out
}

// exchangeOf returns the Exchange that turns the kernel entries before
// into after: entries to add (or rewrite) and prefixes to delete.
func exchangeOf(before, after []ipsetstore.Entry) (add []ipsetstore.Entry, del []netip.Prefix) {
	was := map[netip.Prefix]ipsetstore.Entry{}
	for _, k := range before {
		was[k.Prefix] = k
	}
	will := map[netip.Prefix]bool{}
	for _, k := range after {
		will[k.Prefix] = true
		if w, ok := was[k.Prefix]; !ok || w.NoMatch != k.NoMatch || w.Comment != k.Comment {
			add = append(add, k)
		}
	}
	for _, k := range before {
		if !will[k.Prefix] {
			del = append(del, k.Prefix)
		}
	}
	// Holes that open or close rewrite their range too: the nftables
	// backend splits the range's interval around its holes, and a range
	// written again is laid out afresh (ipset takes it as an update).
	holes := func(ks []ipsetstore.Entry) []netip.Prefix {
		var out []netip.Prefix
		for _, k := range ks {
			if k.NoMatch {
				out = append(out, k.Prefix)
			}
		}
		slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		return out
	}
	if !slices.Equal(holes(before), holes(after)) {
		for _, k := range after {
			if !k.NoMatch && !k.Prefix.IsSingleIP() && !slices.ContainsFunc(add, func(a ipsetstore.Entry) bool { return a.Prefix == k.Prefix }) {
				add = append([]ipsetstore.Entry{k}, add...)
			}
		}
	}
	return add, del
}
