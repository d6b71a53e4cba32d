package ipsetstore

import (
	"errors"
	"fmt"
)

// Replace makes the sets hold exactly entries. For each family it fills a
// scratch set, swaps it with the live one (the rule keeps referencing the
// live name, so there is no moment without a set) and destroys the
// scratch set, which now holds the old content. The live sets must exist
// (Ensure); a missing one is created. A full scratch set aborts before the
// swap: the live set is left as it was.
func (s *NetlinkStore) Replace(entries []Entry, progress func(added int)) error {
	norm := make([]Entry, 0, len(entries))
	for _, e := range entries {
		n, err := Normalize(e)
		if err != nil {
			return fmt.Errorf("replacing the sets: %w", err)
		}
		norm = append(norm, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	var r Repairs
	if err := s.ensureSets(&r); err != nil {
		return err
	}
	parts := byFamily(norm)
	for _, f := range Families {
		live, tmp := s.cfg.Set(f), s.cfg.tempName(f)
		if err := s.destroy(tmp); err != nil { // left over from a crash
			return err
		}
		if err := s.create(tmp, f); err != nil {
			return err
		}
		if err := s.addAll(tmp, parts[f], progress); err != nil {
			fill := fmt.Errorf("filling %s to replace %s (left unchanged): %w", tmp, live, err)
			return errors.Join(fill, s.destroy(tmp))
		}
		if err := s.h.IpsetSwap(live, tmp); err != nil {
			return fmt.Errorf("swapping %s with %s: %w", live, tmp, libErr(err))
		}
		if err := s.destroy(tmp); err != nil {
			return err
		}
	}
	return nil
}
