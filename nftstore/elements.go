package nftstore

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/nftables"

	"github.com/recidivist/recidivist/ipsetstore"
)

// maxComment is the longest element comment kept, in bytes. The kernel
// takes up to 251 (and refuses or drops longer ones), but nft reads back
// at most 128: a saved `nft list ruleset` with longer comments would not
// load again.
const maxComment = 128

// normalize is ipsetstore.Normalize plus this backend's shorter comment.
func normalize(e ipsetstore.Entry) (ipsetstore.Entry, error) {
	e, err := ipsetstore.Normalize(e)
	if err != nil {
		return e, err
	}
	if len(e.Comment) > maxComment {
		c := e.Comment[:maxComment]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
		e.Comment = c
	}
	return e, nil
}

// elements returns the two set elements of e: the start with its timeout
// and comment, and the interval end.
func elements(e ipsetstore.Entry) ([]nftables.SetElement, error) {
	iv, err := intervalOf(e.Prefix)
	if err != nil {
		return nil, err
	}
	return []nftables.SetElement{
		{Key: iv.start.AsSlice(), Timeout: e.Timeout, Comment: e.Comment},
		{Key: iv.end.AsSlice(), IntervalEnd: true},
	}, nil
}

// Add puts each entry into the set of its family. An entry already there
// is replaced in the same transaction (its comment changes too, which a
// plain re-add would not do). A range covering entries replaces them in
// one transaction; an entry inside a range already there is blocked by it
// and nothing is added. Each entry is its own transaction: an interval set
// refuses a whole transaction for one overlapping or absent element, and
// each such refusal has its own remedy above.
func (s *Store) Add(es ...ipsetstore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		if err := s.addOne(e); err != nil {
			return err
		}
	}
	return nil
}

// addOne adds e, or punches the hole e. Callers hold s.mu.
func (s *Store) addOne(e ipsetstore.Entry) error {
	e, elems, c, err := s.prepare(e)
	if err != nil {
		return err
	}
	f := ipsetstore.FamilyOf(e.Prefix)
	if e.NoMatch {
		return s.punch(c, f, e)
	}
	if !e.Prefix.IsSingleIP() {
		// A range may be split around holes already: deleting and adding
		// its two ends blindly would leave its inner pieces behind.
		have, err := s.listCounted(c, f)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(have, func(h counted) bool { return h.Prefix == e.Prefix && len(h.pieces) > 0 }); i >= 0 {
			return s.rebuild(c, f, have, have[i], &e, holesOf(have, e.Prefix))
		}
	}
	return s.addLocked(c, f, e, elems)
}

// prepare normalizes e, spells its elements and opens the connection
// (again: a failed transaction drops it). Callers hold s.mu.
func (s *Store) prepare(e ipsetstore.Entry) (ipsetstore.Entry, []nftables.SetElement, *nftables.Conn, error) {
	e, err := normalize(e)
	if err != nil {
		return e, nil, nil, err
	}
	elems, err := elements(e)
	if err != nil {
		return e, nil, nil, err
	}
	c, err := s.open()
	return e, elems, c, err
}

// addLocked adds e (elems) to the set of f. Callers hold s.mu.
func (s *Store) addLocked(c *nftables.Conn, f ipsetstore.Family, e ipsetstore.Entry, elems []nftables.SetElement) error {
	set := s.set(f)
	// The library sends no NLM_F_EXCL: an identical interval already there
	// would be accepted with only its timeout changed. Delete and add in
	// one transaction; it fails whole with ENOENT when e is not there yet.
	err := s.flush(c, func() error {
		if err := c.SetDeleteElements(set, elems); err != nil {
			return err
		}
		return c.SetAddElements(set, elems)
	})
	if isNoEntry(err) {
		err = s.flush(c, func() error { return c.SetAddElements(set, elems) })
	}
	switch {
	case err == nil:
		return nil
	case isNoEntry(err):
		return fmt.Errorf("adding %s to set %s: %w (%w)", e.Prefix, s.displayName(f), ipsetstore.ErrNoSet, err)
	case errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("adding %s: %w", e.Prefix, s.fullError(f, err))
	case errors.Is(err, syscall.EEXIST):
		return s.addOverlapping(c, f, e, elems)
	}
	return fmt.Errorf("adding %s to set %s: %w", e.Prefix, s.displayName(f), kernelErr(err))
}

// addOverlapping handles an add the kernel refused because e overlaps
// entries (an interval set holds no overlaps, unlike hash:net). A range
// already covering e blocks it: nothing to do. Entries e covers are
// deleted in the transaction that adds e, so that no moment lets them
// through. Only elements read back are deleted: one absent element would
// fail the whole transaction.
func (s *Store) addOverlapping(c *nftables.Conn, f ipsetstore.Family, e ipsetstore.Entry, elems []nftables.SetElement) error {
	have, err := s.listCounted(c, f)
	if err != nil {
		return err
	}
	var covered []nftables.SetElement
	for _, h := range have {
		switch {
		case h.NoMatch:
			continue // no element of its own
		case h.Prefix == e.Prefix && len(h.pieces) > 0:
			// e again, split around holes: it keeps them.
			return s.rebuild(c, f, have, h, &e, holesOf(have, h.Prefix))
		case h.Prefix.Bits() <= e.Prefix.Bits() && h.Prefix.Contains(e.Prefix.Addr()):
			return nil // blocked by h already
		case e.Prefix.Contains(h.Prefix.Addr()):
			es, err := elementsOf(h)
			if err != nil {
				return err
			}
			covered = append(covered, es...)
		}
	}
	set := s.set(f)
	err = s.flush(c, func() error {
		if err := c.SetDeleteElements(set, covered); err != nil {
			return err
		}
		return c.SetAddElements(set, elems)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("adding %s: %w", e.Prefix, s.fullError(f, err))
	}
	return fmt.Errorf("adding %s over the %d entries it covers in set %s: %w", e.Prefix, len(covered)/2, s.displayName(f), kernelErr(err))
}

// flush queues what queue queues and sends it as one transaction. On a
// queueing error nothing is sent. Callers hold s.mu.
func (s *Store) flush(c *nftables.Conn, queue func() error) error {
	if err := queue(); err != nil {
		// The library cannot drop queued messages: drop the connection
		// with them, so that no half-built transaction is ever sent.
		s.c = nil
		return err
	}
	return c.Flush()
}

// Del removes the entry for each prefix. An absent entry, set or table is
// no error. Each prefix is its own transaction: one absent element would
// fail a whole transaction.
func (s *Store) Del(ps ...netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		e, elems, c, err := s.prepare(ipsetstore.Entry{Prefix: p})
		if err != nil {
			return err
		}
		f := ipsetstore.FamilyOf(e.Prefix)
		if !e.Prefix.IsSingleIP() {
			// A range may be split around holes, or be a hole: deleting
			// its two ends blindly could take the wrong elements.
			if err := s.delListed(c, f, e.Prefix); err != nil {
				return err
			}
			continue
		}
		err = s.flush(c, func() error { return c.SetDeleteElements(s.set(f), elems) })
		if isNoEntry(err) {
			err = s.delListed(c, f, e.Prefix) // a hole, perhaps
		}
		if err != nil && !isNoEntry(err) {
			return fmt.Errorf("deleting %s from set %s: %w", e.Prefix, s.displayName(f), kernelErr(err))
		}
	}
	return nil
}

// Exchange deletes del and adds add in one transaction: an interval set
// refuses a range over the entries it covers, and deleting first would let
// their packets through for an instant. Holes in add are punched after it;
// if the kernel refuses the transaction (the sets changed since they were
// listed), adding then deleting one by one takes over.
func (s *Store) Exchange(add []ipsetstore.Entry, del []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return err
	}
	have := map[ipsetstore.Family][]counted{}
	for _, f := range ipsetstore.Families {
		if have[f], err = s.listCounted(c, f); err != nil {
			return err
		}
	}
	drop := map[ipsetstore.Family][]nftables.SetElement{}
	for _, p := range del {
		f := ipsetstore.FamilyOf(p)
		i := slices.IndexFunc(have[f], func(h counted) bool { return h.Prefix == p.Masked() })
		if i < 0 {
			continue
		}
		els, err := elementsOf(have[f][i])
		if err != nil {
			return err
		}
		drop[f] = append(drop[f], els...)
	}
	put := map[ipsetstore.Family][]nftables.SetElement{}
	var holes []ipsetstore.Entry
	for _, e := range add {
		n, err := normalize(e)
		if err != nil {
			return err
		}
		if n.NoMatch {
			holes = append(holes, n)
			continue
		}
		els, err := elements(n)
		if err != nil {
			return err
		}
		put[ipsetstore.FamilyOf(n.Prefix)] = append(put[ipsetstore.FamilyOf(n.Prefix)], els...)
	}
	err = s.flush(c, func() error {
		for _, f := range ipsetstore.Families {
			if len(drop[f]) > 0 {
				if err := c.SetDeleteElements(s.set(f), drop[f]); err != nil {
					return err
				}
			}
			if len(put[f]) > 0 {
				if err := c.SetAddElements(s.set(f), put[f]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, e := range add {
			if err := s.addOne(e); err != nil {
				return err
			}
		}
		s.mu.Unlock()
		err = s.Del(del...)
		s.mu.Lock()
		return err
	}
	for _, h := range holes {
		if err := s.addOne(h); err != nil {
			return err
		}
	}
	return nil
}

// List returns the entries of both sets, IPv4 first, each in address
// order; a missing table or set lists as empty.
func (s *Store) List() ([]ipsetstore.Entry, error) {
	cs, err := s.ListCounted()
	if err != nil {
		return nil, err
	}
	return ipsetstore.Entries(cs), nil
}

// ListCounted is List with the packets and bytes each element's counter
// counted (the per-entry counters that ipset's `counters` option gives).
func (s *Store) ListCounted() ([]Counted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return nil, err
	}
	v, err := s.look(c)
	if err != nil {
		return nil, err
	}
	var out []Counted
	for _, f := range ipsetstore.Families {
		if !v.sets[setName(f)] {
			continue
		}
		es, err := s.listCounted(c, f)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			out = append(out, Counted{Entry: e.Entry, Packets: e.Packets, Bytes: e.Bytes})
		}
	}
	return out, nil
}

// counted is an entry with the packets and bytes its element counted (the
// sum of its pieces' for a range split around holes).
type counted struct {
	ipsetstore.Entry
	Packets, Bytes uint64
	pieces         []interval // the intervals of a split range
}

// Counted is an entry with the packets and bytes its element counted: the
// type both backends list counters in.
type Counted = ipsetstore.Counted

// list dumps the set of f (which must exist) into entries in address order.
// Callers hold s.mu.
func (s *Store) list(c *nftables.Conn, f ipsetstore.Family) ([]ipsetstore.Entry, error) {
	cs, err := s.listCounted(c, f)
	if err != nil {
		return nil, err
	}
	return entriesOf(cs), nil
}

// entriesOf drops the counters.
func entriesOf(cs []counted) []ipsetstore.Entry {
	out := make([]ipsetstore.Entry, len(cs))
	for i, e := range cs {
		out[i] = e.Entry
	}
	return out
}

// listCounted is list with the element counters.
func (s *Store) listCounted(_ *nftables.Conn, f ipsetstore.Family) ([]counted, error) {
	raw, err := s.dumpElements(f)
	if err != nil {
		return nil, fmt.Errorf("listing set %s: %w", s.displayName(f), err)
	}
	type point struct {
		addr netip.Addr
		el   element
	}
	pts := make([]point, 0, len(raw))
	for _, el := range raw {
		a, ok := netip.AddrFromSlice(el.key)
		if !ok {
			continue
		}
		pts = append(pts, point{a, el})
	}
	// An end and the next start may share an address; the end sorts first.
	slices.SortFunc(pts, func(a, b point) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		if a.el.end == b.el.end {
			return 0
		}
		if a.el.end {
			return -1
		}
		return 1
	})
	var ivs []listed
	for i, pt := range pts {
		if pt.el.end {
			continue
		}
		var end netip.Addr // none: up to the top
		if i+1 < len(pts) && pts[i+1].el.end {
			end = pts[i+1].addr
		}
		p, _ := prefixOf(pt.addr, end)
		e := counted{Entry: ipsetstore.Entry{Prefix: p, Comment: pt.el.comment}, Packets: pt.el.packets, Bytes: pt.el.bytes}
		if pt.el.timeout > 0 {
			e.Timeout = pt.el.expires.Truncate(time.Second)
		}
		ivs = append(ivs, listed{start: pt.addr, end: end, c: e})
	}
	return assemble(ivs), nil
}
