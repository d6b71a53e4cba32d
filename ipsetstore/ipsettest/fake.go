// Package ipsettest holds Fake, an in-memory ipsetstore.Store with the same
// semantics as the kernel one, for testing the code above the kernel
// without root. Its knobs break it the way admins and kernels do: a full
// set, a failing call, `iptables -F`, `ipset flush`, `ipset destroy`.
package ipsettest

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/recidivist/recidivist/ipsetstore"
)

// Fake is a stateful in-memory Store. It is safe for concurrent use.
type Fake struct {
	// Now is the clock that runs entry timeouts; tests may replace it
	// before use to expire entries.
	Now func() time.Time

	mu      sync.Mutex // guards everything below
	cfg     ipsetstore.Config
	maxElem int
	sets    map[ipsetstore.Family]map[netip.Prefix]item // a missing family is a missing set
	rules   map[ruleKey]ruleState
	missing map[string]bool // chains that do not exist
	failErr error
}

type item struct {
	comment string
	noMatch bool
	expires time.Time // zero: permanent
	packets uint64    // counted by Hit; kept by an update, lost by Replace
	bytes   uint64
}

type ruleKey struct {
	chain  string
	family ipsetstore.Family
}

// ruleState is what a chain holds: how many recidivist rules, and whether
// the right one is at the top.
type ruleState struct {
	count int
	top   bool
}

var (
	_ ipsetstore.Store   = (*Fake)(nil)
	_ ipsetstore.Counter = (*Fake)(nil)
)

// New returns an empty Fake (no sets, no rules) for cfg, which it
// validates like ipsetstore.New.
func New(cfg ipsetstore.Config) (*Fake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Fake{
		Now:     time.Now,
		cfg:     cfg,
		maxElem: int(cfg.Capacity()),
		sets:    map[ipsetstore.Family]map[netip.Prefix]item{},
		rules:   map[ruleKey]ruleState{},
		missing: map[string]bool{},
	}, nil
}

// SetMaxElem changes the capacity of both sets, to produce ErrSetFull.
func (f *Fake) SetMaxElem(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxElem = n
}

// FailNext makes the next Store call return err and change nothing.
func (f *Fake) FailNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failErr = err
}

// RemoveChain makes chain missing, as DOCKER-USER is before Docker starts:
// Ensure reports it pending.
func (f *Fake) RemoveChain(chain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[chain] = true
	for _, fam := range ipsetstore.Families {
		delete(f.rules, ruleKey{chain, fam})
	}
}

// AddChain makes chain exist again (empty), as Docker creating
// DOCKER-USER.
func (f *Fake) AddChain(chain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.missing, chain)
}

// FlushRules is `iptables -F; ip6tables -F` (or a firewalld reload): the
// match rules are gone, the sets stay.
func (f *Fake) FlushRules() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.rules)
}

// BuryRule is another tool inserting its rule on top of ours in chain.
func (f *Fake) BuryRule(chain string, fam ipsetstore.Family) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := ruleKey{chain, fam}
	if st := f.rules[k]; st.count > 0 {
		f.rules[k] = ruleState{count: st.count}
	}
}

// FlushSets is `ipset flush`: both sets stay, empty.
func (f *Fake) FlushSets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fam := range f.sets {
		f.sets[fam] = map[netip.Prefix]item{}
	}
}

// DestroySets is `iptables -F; ipset destroy`: rules and sets are gone.
func (f *Fake) DestroySets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.rules)
	clear(f.sets)
}

// takeFailure returns and clears the FailNext error. Callers hold f.mu.
func (f *Fake) takeFailure() error {
	err := f.failErr
	f.failErr = nil
	return err
}

// Ensure creates missing sets and rules and fixes buried or duplicated
// rules, like NetlinkStore.Ensure.
func (f *Fake) Ensure() (ipsetstore.Repairs, error) { return f.ensure(true) }

// EnsureRules ensures the rules of each family whose set exists, like
// NetlinkStore.EnsureRules.
func (f *Fake) EnsureRules() (ipsetstore.Repairs, error) { return f.ensure(false) }

// ensure is Ensure, or EnsureRules unless createSets.
func (f *Fake) ensure(createSets bool) (ipsetstore.Repairs, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r ipsetstore.Repairs
	if err := f.takeFailure(); err != nil {
		return r, err
	}
	for _, fam := range ipsetstore.Families {
		if _, ok := f.sets[fam]; !ok {
			if !createSets {
				r.SetsMissing = append(r.SetsMissing, f.cfg.Set(fam))
				continue
			}
			f.sets[fam] = map[netip.Prefix]item{}
			r.SetsCreated = append(r.SetsCreated, f.cfg.Set(fam))
		}
		f.ensureRules(fam, &r)
	}
	return r, nil
}

// ensureRules puts the rule of fam on top of every configured chain that
// exists. Callers hold f.mu.
func (f *Fake) ensureRules(fam ipsetstore.Family, r *ipsetstore.Repairs) {
	for _, chain := range f.cfg.Chains {
		where := chain + "/" + fam.String()
		if f.missing[chain] {
			r.Pending = append(r.Pending, where)
			continue
		}
		k := ruleKey{chain, fam}
		st := f.rules[k]
		switch {
		case st.count == 1 && st.top:
			continue
		case st.count == 0:
			r.RulesCreated = append(r.RulesCreated, where)
		default:
			r.RulesFixed = append(r.RulesFixed, where)
		}
		f.rules[k] = ruleState{count: 1, top: true}
	}
}

// Add adds or updates es in order; a full set is ErrSetFull, a missing one
// ErrNoSet, and the entries before the refused one stay, as in the kernel.
func (f *Fake) Add(es ...ipsetstore.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return err
	}
	for _, e := range es {
		if err := f.add(e); err != nil {
			return err
		}
	}
	return nil
}

// add adds or updates e. Callers hold f.mu.
func (f *Fake) add(e ipsetstore.Entry) error {
	e, err := ipsetstore.Normalize(e)
	if err != nil {
		return err
	}
	fam := ipsetstore.FamilyOf(e.Prefix)
	set, ok := f.sets[fam]
	name := f.cfg.Set(fam)
	if !ok {
		return fmt.Errorf("adding %s to set %s: %w", e.Prefix, name, ipsetstore.ErrNoSet)
	}
	f.expire(set)
	if _, exists := set[e.Prefix]; !exists && len(set) >= f.maxElem {
		return fmt.Errorf("adding %s: set %s is full (maxelem %d): %w", e.Prefix, name, f.maxElem, ipsetstore.ErrSetFull)
	}
	it := f.item(e)
	if old, exists := set[e.Prefix]; exists { // an update keeps the counters, as the kernel's
		it.packets, it.bytes = old.packets, old.bytes
	}
	set[e.Prefix] = it
	return nil
}

// Hit is n packets of 60 bytes from p meeting the rule: the counters of
// the entry of p (its exact prefix) grow. It reports whether there is one.
func (f *Fake) Hit(p netip.Prefix, n uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.sets[ipsetstore.FamilyOf(p)]
	it, ok := set[p]
	if ok {
		it.packets += n
		it.bytes += 60 * n
		set[p] = it
	}
	return ok
}

func (f *Fake) item(e ipsetstore.Entry) item {
	it := item{comment: e.Comment, noMatch: e.NoMatch}
	if e.Timeout > 0 {
		it.expires = f.Now().Add(e.Timeout)
	}
	return it
}

// expire drops entries whose timeout ran out, as the kernel's garbage
// collector does. Callers hold f.mu.
func (f *Fake) expire(set map[netip.Prefix]item) {
	now := f.Now()
	for p, it := range set {
		if !it.expires.IsZero() && !it.expires.After(now) {
			delete(set, p)
		}
	}
}

// Exchange adds add, then deletes del, as the ipset store does; a failure
// the test asked for (FailNext) changes nothing.
func (f *Fake) Exchange(add []ipsetstore.Entry, del []netip.Prefix) error {
	f.mu.Lock()
	if err := f.takeFailure(); err != nil {
		f.mu.Unlock()
		return err
	}
	f.mu.Unlock()
	if err := f.Add(add...); err != nil {
		return err
	}
	return f.Del(del...)
}

// Blocks reports whether a packet from a would be matched by the sets as
// the kernel matches hash:net: the most specific entry containing a
// decides, and a nomatch entry (a hole) lets it pass.
func (f *Fake) Blocks(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.sets[ipsetstore.FamilyOf(netip.PrefixFrom(a, a.BitLen()))]
	f.expire(set)
	for bits := a.BitLen(); bits > 0; bits-- {
		if it, ok := set[netip.PrefixFrom(a, bits).Masked()]; ok {
			return !it.noMatch
		}
	}
	return false
}

// Del removes each prefix; absent entries and sets are not errors.
func (f *Fake) Del(ps ...netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return err
	}
	for _, p := range ps {
		e, err := ipsetstore.Normalize(ipsetstore.Entry{Prefix: p})
		if err != nil {
			return err
		}
		delete(f.sets[ipsetstore.FamilyOf(e.Prefix)], e.Prefix)
	}
	return nil
}

// List returns both sets, IPv4 first, each in address order, with the
// remaining timeouts in whole seconds.
func (f *Fake) List() ([]ipsetstore.Entry, error) {
	cs, err := f.ListCounted()
	if err != nil {
		return nil, err
	}
	return ipsetstore.Entries(cs), nil
}

// ListCounted is List with the counters Hit counted.
func (f *Fake) ListCounted() ([]ipsetstore.Counted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return nil, err
	}
	now := f.Now()
	var out []ipsetstore.Counted
	for _, fam := range ipsetstore.Families {
		set := f.sets[fam]
		f.expire(set)
		start := len(out)
		for p, it := range set {
			e := ipsetstore.Counted{Entry: ipsetstore.Entry{Prefix: p, Comment: it.comment, NoMatch: it.noMatch}, Packets: it.packets, Bytes: it.bytes}
			if !it.expires.IsZero() {
				e.Timeout = it.expires.Sub(now).Truncate(time.Second)
			}
			out = append(out, e)
		}
		slices.SortFunc(out[start:], func(a, b ipsetstore.Counted) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	}
	return out, nil
}

// Replace swaps in exactly entries; if either family would overflow
// maxelem nothing changes and the error matches ErrSetFull.
func (f *Fake) Replace(entries []ipsetstore.Entry, progress func(added int)) error {
	next := map[ipsetstore.Family]map[netip.Prefix]item{ipsetstore.IPv4: {}, ipsetstore.IPv6: {}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return err
	}
	for _, e := range entries {
		n, err := ipsetstore.Normalize(e)
		if err != nil {
			return fmt.Errorf("replacing the sets: %w", err)
		}
		fam := ipsetstore.FamilyOf(n.Prefix)
		set := next[fam]
		if _, exists := set[n.Prefix]; !exists && len(set) >= f.maxElem {
			return fmt.Errorf("replacing set %s: set is full (maxelem %d): %w", f.cfg.Set(fam), f.maxElem, ipsetstore.ErrSetFull)
		}
		set[n.Prefix] = f.item(n)
	}
	f.sets = next
	if progress != nil {
		progress(len(entries))
	}
	return nil
}

// Status reports the fake's sets and rules.
func (f *Fake) Status() (ipsetstore.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st ipsetstore.Status
	if err := f.takeFailure(); err != nil {
		return st, err
	}
	for _, fam := range ipsetstore.Families {
		set, ok := f.sets[fam]
		ss := ipsetstore.SetStatus{Name: f.cfg.Set(fam), Family: fam, Exists: ok}
		if ok {
			f.expire(set)
			ss.Entries, ss.MaxElem = len(set), uint32(f.maxElem)
		}
		st.Sets = append(st.Sets, ss)
	}
	for _, fam := range ipsetstore.Families {
		for _, chain := range f.cfg.Chains {
			r := f.rules[ruleKey{chain, fam}]
			st.Rules = append(st.Rules, ipsetstore.RuleStatus{Chain: chain, Family: fam, ChainExists: !f.missing[chain], Pending: f.missing[chain], Count: r.count, Present: r.count > 0 && r.top})
		}
	}
	return st, nil
}

// Teardown removes rules, then sets.
func (f *Fake) Teardown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return err
	}
	clear(f.rules)
	clear(f.sets)
	return nil
}
