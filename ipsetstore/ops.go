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

// EnsureRules ensures the rules of each family whose set exists.
func (s *NetlinkStore) EnsureRules() (Repairs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Repairs
	if err := s.open(); err != nil {
		return r, err
	}
	for _, f := range Families {
		name := s.cfg.Set(f)
		_, ok, err := s.header(name)
		if err != nil {
			return r, err
		}
		if !ok {
			r.SetsMissing = append(r.SetsMissing, name)
			continue
		}
		for _, chain := range s.cfg.Chains {
			if err := s.ensureRule(chain, f, &r); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// Add puts es in the sets of their families, or updates them there: one
// batched message per family and 60 kB of entries.
func (s *NetlinkStore) Add(es ...Entry) error {
	norm, err := normalizeList(es)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	parts := byFamily(norm)
	for _, f := range Families {
		if len(parts[f]) == 0 {
			continue
		}
		if err := s.addAll(s.cfg.Set(f), parts[f], nil); err != nil {
			return err
		}
	}
	return nil
}

// Del removes ps from their sets, batched like Add; an absent entry or set
// is not an error.
func (s *NetlinkStore) Del(ps ...netip.Prefix) error {
	es := make([]Entry, len(ps))
	for i, p := range ps {
		es[i] = Entry{Prefix: p}
	}
	norm, err := normalizeList(es)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	parts := byFamily(norm)
	for _, f := range Families {
		if len(parts[f]) == 0 {
			continue
		}
		set := s.cfg.Set(f)
		if idx, err := s.adt(cmdDel, set, parts[f], nil); err != nil && !isNoSet(err) {
			return fmt.Errorf("deleting %s from set %s: %w", parts[f][max(idx, 0)].Prefix, set, err)
		}
	}
	return nil
}

// Exchange adds add, then deletes del: hash:net holds a range and the
// entries inside it at once, so in between both block.
func (s *NetlinkStore) Exchange(add []Entry, del []netip.Prefix) error {
	if err := s.Add(add...); err != nil {
		return err
	}
	return s.Del(del...)
}

// normalizeList normalizes each entry, in order; the first refused one is
// the error.
func normalizeList(es []Entry) ([]Entry, error) {
	out := make([]Entry, len(es))
	for i, e := range es {
		n, err := Normalize(e)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
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

// ListCounted is List with each entry's packet and byte counters.
func (s *NetlinkStore) ListCounted() ([]Counted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	var out []Counted
	for _, f := range Families {
		es, err := s.listCounted(s.cfg.Set(f))
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
