package ipsetstore

import (
	"fmt"
	"net/netip"
)

// Ensure creates the sets and rules that are missing and fixes rules that
// are duplicated or not at the top of their chain.
func (s *NetlinkStore) Ensure() (Repairs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Repairs
	if err := s.open(); err != nil {
		return r, err
	}
	if err := s.ensureSets(&r); err != nil {
		return r, err
	}
	for _, f := range Families {
		for _, chain := range s.cfg.Chains {
			if err := s.ensureRule(chain, f, &r); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// Add puts e in the set of its family, or updates it there.
func (s *NetlinkStore) Add(e Entry) error {
	e, err := Normalize(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	return s.addAll(s.cfg.Set(FamilyOf(e.Prefix)), []Entry{e}, nil)
}

// Del removes p from its set; an absent entry or set is not an error.
func (s *NetlinkStore) Del(p netip.Prefix) error {
	e, err := Normalize(Entry{Prefix: p})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	set := s.cfg.Set(FamilyOf(e.Prefix))
	if _, err := s.adt(cmdDel, set, []Entry{e}, nil); err != nil && !isNoSet(err) {
		return fmt.Errorf("deleting %s from set %s: %w", e.Prefix, set, err)
	}
	return nil
}

// List returns the entries of both sets, IPv4 first; a missing set lists
// as empty.
func (s *NetlinkStore) List() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	var out []Entry
	for _, f := range Families {
		es, err := s.list(s.cfg.Set(f))
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// Status reports sets and rules without changing them.
func (s *NetlinkStore) Status() (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Status
	if err := s.open(); err != nil {
		return st, err
	}
	for _, f := range Families {
		name := s.cfg.Set(f)
		h, ok, err := s.header(name)
		if err != nil {
			return st, err
		}
		st.Sets = append(st.Sets, SetStatus{Name: name, Family: f, Exists: ok, Entries: int(h.entries), MaxElem: h.maxElem})
	}
	for _, f := range Families {
		for _, chain := range s.cfg.Chains {
			rs, err := s.ruleStatus(chain, f)
			if err != nil {
				return st, err
			}
			st.Rules = append(st.Rules, rs)
		}
	}
	return st, nil
}

// Teardown removes the rules of every configured chain, then both sets
// and any scratch set a crashed Replace left behind.
func (s *NetlinkStore) Teardown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	for _, f := range Families {
		for _, chain := range s.cfg.Chains {
			if err := s.removeRules(chain, f); err != nil {
				return err
			}
		}
	}
	for _, f := range Families {
		for _, name := range []string{s.cfg.Set(f), s.cfg.tempName(f)} {
			if err := s.destroy(name); err != nil {
				return err
			}
		}
	}
	return nil
}
