package nftstore

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/google/nftables"

	"github.com/recidivist/recidivist/ipsetstore"
)

// chunk is how many set elements go into one netlink message (an interval
// is two). google/nftables v0.3.0 sends a transaction as one write; small
// messages keep each part and its acknowledgement small.
const chunk = 256

// Replace makes the table hold exactly entries, with its sets, chains and
// rules, in one transaction: the table is deleted and built again from
// scratch, so packets meet either the old blocklist or the new one, never
// an empty set. Entries that another entry covers are left out (an
// interval set refuses overlaps; the wider entry blocks them). More
// entries than maxelem in a family fail with ErrSetFull before anything
// is sent.
func (s *Store) Replace(entries []ipsetstore.Entry, progress func(added int)) error {
	norm := make([]ipsetstore.Entry, 0, len(entries))
	for _, e := range entries {
		n, err := normalize(e)
		if err != nil {
			return fmt.Errorf("replacing the sets: %w", err)
		}
		if _, err := intervalOf(n.Prefix); err != nil {
			return fmt.Errorf("replacing the sets: %w", err)
		}
		norm = append(norm, n)
	}
	var holes []netip.Prefix
	norm = slices.DeleteFunc(norm, func(e ipsetstore.Entry) bool {
		if e.NoMatch {
			holes = append(holes, e.Prefix)
		}
		return e.NoMatch
	})
	norm = dropCovered(norm)
	byFam := map[ipsetstore.Family][]ipsetstore.Entry{}
	for _, e := range norm {
		f := ipsetstore.FamilyOf(e.Prefix)
		byFam[f] = append(byFam[f], e)
	}
	for _, f := range ipsetstore.Families {
		if n := len(byFam[f]); n > int(s.cfg.Capacity()) {
			return fmt.Errorf("replacing the sets with %d entries of %s: %w", n, f, s.fullError(f, syscall.ENFILE))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return err
	}
	err = s.flush(c, func() error {
		t := s.table()
		c.AddTable(t) // so that the delete finds it on a first run
		c.DelTable(t)
		c.AddTable(t)
		for _, f := range ipsetstore.Families {
			set := s.set(f)
			if err := c.AddSet(set, nil); err != nil {
				return fmt.Errorf("creating set %s: %w", s.displayName(f), err)
			}
			es := byFam[f]
			for len(es) > 0 {
				n := min(len(es), chunk/2)
				elems := make([]nftables.SetElement, 0, 2*n)
				for _, e := range es[:n] {
					el, err := elementsWithHoles(e, holes)
					if err != nil {
						return err
					}
					elems = append(elems, el...)
				}
				if err := c.SetAddElements(set, elems); err != nil {
					return fmt.Errorf("adding to set %s: %w", s.displayName(f), err)
				}
				es = es[n:]
			}
		}
		for _, b := range s.chains {
			if err := s.addRules(c, c.AddChain(b.chain(t))); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("replacing the sets (left unchanged): %w", s.fullError(ipsetstore.IPv4, err))
	default:
		return fmt.Errorf("replacing table %s (left unchanged): %w", s.Table(), kernelErr(err))
	}
	if progress != nil {
		progress(len(norm))
	}
	return nil
}

// Teardown deletes the table: its rules, chains and sets go in one
// transaction. A missing table is no error.
func (s *Store) Teardown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return err
	}
	v, err := s.look(c)
	if err != nil || !v.table {
		return err
	}
	err = s.flush(c, func() error { c.DelTable(s.table()); return nil })
	if err == nil || isNoEntry(err) {
		return nil
	}
	return fmt.Errorf("deleting table %s: %w", s.Table(), kernelErr(err))
}
