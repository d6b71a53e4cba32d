package nftstore

import (
	"fmt"

	"github.com/google/nftables"

	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/ipsetstore"
)

// kernelView is what the kernel holds of the table: which sets and base
// chains exist and the comments of each chain's rules in order.
type kernelView struct {
	table  bool
	sets   map[string]bool
	chains map[string]bool
	rules  map[string][]string // chain name → rule comments, in order
}

// look reads the table's sets, chains and rules. Callers hold s.mu.
func (s *Store) look(c *nftables.Conn) (kernelView, error) {
	v := kernelView{sets: map[string]bool{}, chains: map[string]bool{}, rules: map[string][]string{}}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return v, fmt.Errorf("listing the inet tables: %w", kernelErr(err))
	}
	for _, t := range tables {
		if t.Name == s.cfg.SetName {
			v.table = true
		}
	}
	if !v.table {
		return v, nil
	}
	t := s.table()
	sets, err := c.GetSets(t)
	if err != nil {
		return v, fmt.Errorf("listing the sets of table %s: %w", s.Table(), kernelErr(err))
	}
	for _, set := range sets {
		v.sets[set.Name] = true
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return v, fmt.Errorf("listing the chains of table %s: %w", s.Table(), kernelErr(err))
	}
	for _, ch := range chains {
		if ch.Table.Name != s.cfg.SetName {
			continue
		}
		v.chains[ch.Name] = true
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return v, fmt.Errorf("listing the rules of chain %s in table %s: %w", ch.Name, s.Table(), kernelErr(err))
		}
		for _, r := range rules {
			v.rules[ch.Name] = append(v.rules[ch.Name], ruleComment(r))
		}
	}
	return v, nil
}

// ruleState says, for family f in chain b, how many of our rules there are
// and whether the right one sits where it belongs (v4 first, v6 second,
// nothing before them).
func (s *Store) ruleState(v kernelView, b baseChain, f ipsetstore.Family) (count int, present bool) {
	want := s.ruleTag(f)
	pos := 0
	if f == ipsetstore.IPv6 {
		pos = 1
	}
	rules := v.rules[b.name]
	for i, r := range rules {
		if r == want {
			count++
			if i == pos {
				present = true
			}
		}
	}
	return count, present
}

// Ensure creates the table, the sets, the chains and the rules that are
// missing, and rewrites a chain whose rules are not exactly ours in our
// order, all in one transaction.
func (s *Store) Ensure() (ipsetstore.Repairs, error) { return s.ensure(false) }

// EnsureRules is Ensure when the table holds both sets; otherwise it
// changes nothing and names the missing sets. Every chain's rules
// reference both sets, and a flush that took the table took the sets'
// entries with it: that needs a restore, not rules.
func (s *Store) EnsureRules() (ipsetstore.Repairs, error) { return s.ensure(true) }

// ensure is Ensure, or EnsureRules when rulesOnly.
func (s *Store) ensure(rulesOnly bool) (ipsetstore.Repairs, error) {
	var r ipsetstore.Repairs
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return r, err
	}
	v, err := s.look(c)
	if err != nil {
		return r, err
	}
	if rulesOnly {
		for _, f := range ipsetstore.Families {
			if !v.sets[setName(f)] {
				r.SetsMissing = append(r.SetsMissing, s.displayName(f))
			}
		}
		if len(r.SetsMissing) > 0 {
			return r, nil
		}
	}
	t := s.table()
	c.AddTable(t) // creates it, or nothing when it is there
	for _, f := range ipsetstore.Families {
		if v.sets[setName(f)] {
			continue
		}
		if err := c.AddSet(s.set(f), nil); err != nil {
			return r, fmt.Errorf("creating set %s: %w", s.displayName(f), err)
		}
		r.SetsCreated = append(r.SetsCreated, s.displayName(f))
	}
	for _, b := range s.chains {
		healthy := true
		var created, fixed []string
		for _, f := range ipsetstore.Families {
			count, present := s.ruleState(v, b, f)
			where := b.label() + "/" + f.String()
			switch {
			case count == 0:
				created = append(created, where)
				healthy = false
			case count > 1 || !present:
				fixed = append(fixed, where)
				healthy = false
			}
		}
		if healthy && v.chains[b.name] {
			continue
		}
		ch := c.AddChain(b.chain(t))
		if v.chains[b.name] {
			c.FlushChain(ch)
		}
		if err := s.addRules(c, ch); err != nil {
			return r, err
		}
		r.RulesCreated = append(r.RulesCreated, created...)
		r.RulesFixed = append(r.RulesFixed, fixed...)
	}
	if err := c.Flush(); err != nil {
		return ipsetstore.Repairs{}, fmt.Errorf("creating table %s with its sets, chains and rules: %w", s.Table(), kernelErr(err))
	}
	return r, nil
}

// Status reports the sets and rules as they are, changing nothing. It
// lists every element to count them: seconds to minutes for a million
// entries (see Layout for the cheap part).
func (s *Store) Status() (ipsetstore.Status, error) { return s.status(true) }

// Layout is Status without the entry counts (Entries stays 0): which
// sets, chains and rules exist, in a few round trips whatever the size of
// the sets.
func (s *Store) Layout() (ipsetstore.Status, error) { return s.status(false) }

// Generation returns the nf_tables ruleset generation of the store's
// namespace, one round trip: unchanged since a check means nothing in
// nf_tables changed since (any commit, by anyone, advances it).
func (s *Store) Generation() (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.open(); err != nil {
		return 0, err
	}
	gen, err := nfwatch.Generation(s.nsFd())
	return gen, kernelErr(err)
}

// status is Status, counting the entries when count is true.
func (s *Store) status(count bool) (ipsetstore.Status, error) {
	var st ipsetstore.Status
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.open()
	if err != nil {
		return st, err
	}
	v, err := s.look(c)
	if err != nil {
		return st, err
	}
	for _, f := range ipsetstore.Families {
		ss := ipsetstore.SetStatus{Name: s.displayName(f), Family: f, Exists: v.sets[setName(f)], MaxElem: s.cfg.Capacity()}
		if ss.Exists && count {
			es, err := s.list(c, f)
			if err != nil {
				return st, err
			}
			ss.Entries = len(es)
		}
		st.Sets = append(st.Sets, ss)
	}
	for _, b := range s.chains {
		for _, f := range ipsetstore.Families {
			rs := ipsetstore.RuleStatus{Chain: b.label(), Family: f, ChainExists: v.chains[b.name]}
			if rs.ChainExists {
				rs.Count, rs.Present = s.ruleState(v, b, f)
			}
			st.Rules = append(st.Rules, rs)
		}
	}
	return st, nil
}
