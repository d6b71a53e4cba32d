package nftstore

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/nftables"

	"github.com/recidivist/recidivist/internal/addr"
	"github.com/recidivist/recidivist/ipsetstore"
)

// An interval set has no nomatch: a range with holes (ipsetstore.Entry
// NoMatch) is held as the pieces of the range around them, and each piece's
// comment starts with splitMark and the range, so that a listing puts the
// range and its holes back together:
//
//	198.51.100.0/24 with hole .7 → [.0, .7) and [.8, .0 of the next /24),
//	both commented "split:198.51.100.0/24 recidivist"
const splitMark = "split:"

// pieceComment is the comment of every piece of range e.
func pieceComment(e ipsetstore.Entry) string {
	c := splitMark + e.Prefix.String() + " " + e.Comment
	if len(c) > maxComment {
		c = c[:maxComment]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
	}
	return c
}

// splitOf reads the range and the range's own comment from a piece's
// comment; ok is false for an element that is no piece.
func splitOf(comment string) (r netip.Prefix, rest string, ok bool) {
	s, found := strings.CutPrefix(comment, splitMark)
	if !found {
		return r, "", false
	}
	word, rest, _ := strings.Cut(s, " ")
	r, err := netip.ParsePrefix(word)
	return r, rest, err == nil
}

// elementsWithHoles returns the elements of e with holes (inside e) left
// out: e itself when there are none, else its pieces.
func elementsWithHoles(e ipsetstore.Entry, holes []netip.Prefix) ([]nftables.SetElement, error) {
	var inside []netip.Prefix
	for _, h := range holes {
		if h.Bits() > e.Prefix.Bits() && e.Prefix.Contains(h.Addr()) {
			inside = append(inside, h)
		}
	}
	if len(inside) == 0 {
		return elements(e)
	}
	iv, err := intervalOf(e.Prefix)
	if err != nil {
		return nil, err
	}
	comment := pieceComment(e)
	var out []nftables.SetElement
	piece := func(start, end netip.Addr) {
		out = append(out,
			nftables.SetElement{Key: start.AsSlice(), Timeout: e.Timeout, Comment: comment},
			nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
	}
	cur := iv.start
	for _, h := range addr.Cover(inside) {
		if cur.Less(h.Addr()) {
			piece(cur, h.Addr())
		}
		cur = addr.Last(h).Next() // below iv.end: h is inside e
	}
	if cur.Less(iv.end) {
		piece(cur, iv.end)
	}
	return out, nil
}

// assemble turns the intervals of one set, in address order, into entries:
// the pieces of a split range become the range and its holes.
func assemble(ivs []listed) []counted {
	out := make([]counted, 0, len(ivs))
	for i := 0; i < len(ivs); {
		iv := ivs[i]
		r, rest, ok := splitOf(iv.c.Comment)
		if !ok || !r.Contains(iv.start) {
			out = append(out, iv.c)
			i++
			continue
		}
		group := counted{Entry: ipsetstore.Entry{Prefix: r, Comment: rest, Timeout: iv.c.Timeout}}
		var others []counted // entries of their own inside r
		covered := []netip.Prefix{}
		for ; i < len(ivs) && r.Contains(ivs[i].start); i++ {
			if rr, _, ok := splitOf(ivs[i].c.Comment); ok && rr == r {
				group.Packets += ivs[i].c.Packets
				group.Bytes += ivs[i].c.Bytes
				group.pieces = append(group.pieces, interval{ivs[i].start, ivs[i].end})
				covered = append(covered, addr.RangePrefixes(ivs[i].start, ivs[i].end.Prev())...)
				continue
			}
			others = append(others, ivs[i].c)
			covered = append(covered, ivs[i].c.Prefix)
		}
		out = append(out, group)
		for _, h := range addr.Subtract(r, addr.Cover(covered)) {
			out = append(out, counted{Entry: ipsetstore.Entry{Prefix: h, NoMatch: true}})
		}
		out = append(out, others...)
	}
	return out
}

// listed is one interval of a listing, before assembly.
type listed struct {
	start, end netip.Addr
	c          counted
}

// elementsOf returns the elements that hold a listed entry: its pieces for
// a split range. A hole has none.
func elementsOf(h counted) ([]nftables.SetElement, error) {
	if h.NoMatch {
		return nil, nil
	}
	if len(h.pieces) == 0 {
		return elements(h.Entry)
	}
	out := make([]nftables.SetElement, 0, 2*len(h.pieces))
	for _, p := range h.pieces {
		out = append(out, nftables.SetElement{Key: p.start.AsSlice()}, nftables.SetElement{Key: p.end.AsSlice(), IntervalEnd: true})
	}
	return out, nil
}

// holesOf returns the holes listed inside r.
func holesOf(have []counted, r netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, h := range have {
		if h.NoMatch && h.Prefix.Bits() > r.Bits() && r.Contains(h.Prefix.Addr()) {
			out = append(out, h.Prefix)
		}
	}
	return out
}

// rangeAround returns the listed range (not a hole) that strictly contains p.
func rangeAround(have []counted, p netip.Prefix) (counted, bool) {
	best := -1
	for i, h := range have {
		if !h.NoMatch && h.Prefix.Bits() < p.Bits() && h.Prefix.Contains(p.Addr()) && (best < 0 || h.Prefix.Bits() > have[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return counted{}, false
	}
	return have[best], true
}

// rebuild writes range r (as listed in have, or with e's comment and
// timeout when e is given) again with exactly holes, in one transaction.
// Entries of their own inside r and outside the holes go: an interval set
// cannot hold them beside r, and r blocks their addresses. Callers hold
// s.mu.
func (s *Store) rebuild(c *nftables.Conn, f ipsetstore.Family, have []counted, r counted, e *ipsetstore.Entry, holes []netip.Prefix) error {
	old, err := elementsOf(r)
	if err != nil {
		return err
	}
	for _, h := range have {
		if h.NoMatch || h.Prefix == r.Prefix || !r.Prefix.Contains(h.Prefix.Addr()) || h.Prefix.Bits() <= r.Prefix.Bits() {
			continue
		}
		if slices.ContainsFunc(holes, func(x netip.Prefix) bool { return x.Overlaps(h.Prefix) }) {
			continue // it stays, inside what the range lets through
		}
		els, err := elementsOf(h)
		if err != nil {
			return err
		}
		old = append(old, els...)
	}
	want := r.Entry
	if e != nil {
		want = *e
	}
	want.NoMatch = false
	elems, err := elementsWithHoles(want, holes)
	if err != nil {
		return err
	}
	set := s.set(f)
	err = s.flush(c, func() error {
		if err := c.SetDeleteElements(set, old); err != nil {
			return err
		}
		return c.SetAddElements(set, elems)
	})
	if err != nil {
		return fmt.Errorf("rewriting %s with %d holes in set %s: %w", r.Prefix, len(holes), s.displayName(f), kernelErr(err))
	}
	return nil
}

// punch makes hole e in the range of the set around it; with no range
// around it there is nothing to let through. Callers hold s.mu.
func (s *Store) punch(c *nftables.Conn, f ipsetstore.Family, e ipsetstore.Entry) error {
	have, err := s.listCounted(c, f)
	if err != nil {
		return err
	}
	r, ok := rangeAround(have, e.Prefix)
	if !ok {
		return nil
	}
	holes := holesOf(have, r.Prefix)
	for _, h := range holes {
		if h.Bits() <= e.Prefix.Bits() && h.Contains(e.Prefix.Addr()) {
			return nil // a hole already
		}
	}
	return s.rebuild(c, f, have, r, nil, append(holes, e.Prefix))
}

// delListed deletes p by what a listing shows: a split range (all its
// pieces), or a hole (the range is written again without it). Callers hold
// s.mu.
func (s *Store) delListed(c *nftables.Conn, f ipsetstore.Family, p netip.Prefix) error {
	have, err := s.listCounted(c, f)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(have, func(h counted) bool { return h.Prefix == p })
	if i < 0 {
		// Part of a wider hole (holes are listed merged): what is left of
		// that hole stays one.
		i = slices.IndexFunc(have, func(h counted) bool { return h.NoMatch && h.Prefix.Bits() < p.Bits() && h.Prefix.Contains(p.Addr()) })
	}
	if i < 0 {
		return nil
	}
	h := have[i]
	if !h.NoMatch {
		elems, err := elementsOf(h)
		if err != nil {
			return err
		}
		err = s.flush(c, func() error { return c.SetDeleteElements(s.set(f), elems) })
		if err != nil && !isNoEntry(err) {
			return fmt.Errorf("deleting %s from set %s: %w", p, s.displayName(f), kernelErr(err))
		}
		return nil
	}
	r, ok := rangeAround(have, p)
	if !ok {
		return nil
	}
	holes := slices.DeleteFunc(holesOf(have, r.Prefix), func(x netip.Prefix) bool { return x == h.Prefix })
	if h.Prefix != p {
		holes = append(holes, addr.Subtract(h.Prefix, []netip.Prefix{p})...)
	}
	return s.rebuild(c, f, have, r, nil, holes)
}
