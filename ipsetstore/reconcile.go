package ipsetstore

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// TimeoutSlack is how far a listed entry's remaining timeout may be from
// the wanted one before Reconcile rewrites it. The kernel counts down in
// whole seconds while the caller computes the remaining time from an
// expiry, so small differences are the clock, not a change.
const TimeoutSlack = 5 * time.Second

// Report says what Reconcile had to repair, for the daemon's log.
type Report struct {
	Repairs
	Added, Removed, Updated int
}

// Changed reports whether anything was repaired.
func (r Report) Changed() bool {
	return r.Repairs.Changed() || r.Added+r.Removed+r.Updated > 0
}

// String describes the repairs, or is empty when there were none.
func (r Report) String() string {
	var parts []string
	if s := r.Repairs.String(); s != "" {
		parts = append(parts, s)
	}
	for _, c := range []struct {
		n    int
		what string
	}{{r.Added, "added"}, {r.Removed, "removed"}, {r.Updated, "updated"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, "; ")
}

// Reconcile makes the kernel equal want: it ensures the sets and rules,
// adds missing entries, deletes extra ones and rewrites entries whose
// comment differs, whose timeout changed between permanent and expiring,
// or whose remaining timeout is more than TimeoutSlack from the wanted one
// (want carries remaining times, as List reports them). Entries that are
// already right are not touched, so their counters survive.
func Reconcile(s Store, want []Entry) (Report, error) {
	repairs, err := s.Ensure()
	if err != nil {
		return Report{Repairs: repairs}, err
	}
	have, err := s.List()
	if err != nil {
		return Report{Repairs: repairs}, err
	}
	return apply(s, have, want, Report{Repairs: repairs})
}

// ReconcileListed is Reconcile from a listing the caller took before (with
// s.List, which may take seconds for a million entries): it ensures the sets
// and rules, then applies the difference between have and want. The caller
// makes sure nothing changed the sets in between that want does not account
// for: entries it added or deleted since are in want or absent from it, so
// applying the difference again is harmless.
func ReconcileListed(s Store, have, want []Entry) (Report, error) {
	plan, err := Diff(have, want)
	if err != nil {
		return Report{}, err
	}
	return plan.Apply(s)
}

// apply makes the sets, listed as have, hold want; rep carries the repairs
// of the Ensure before.
func apply(s Store, have, want []Entry, rep Report) (Report, error) {
	plan, err := Diff(have, want)
	if err != nil {
		return rep, err
	}
	return plan.apply(s, rep)
}

// Plan is the difference between the sets as listed and as wanted, worked
// out apart from applying it: for a million entries the working out takes
// a while, and a caller may do it without holding what it holds to apply.
type Plan struct {
	replace        []Entry // non-nil: swap the sets for exactly these
	add            []Entry // missing, or to rewrite (update: in have already)
	update         map[netip.Prefix]bool
	del            []netip.Prefix
	added, removed int // by the swap
	changes        Changes
}

// Diff works out what makes the sets, listed as have, hold want (see
// Reconcile for what counts as a difference).
func Diff(have, want []Entry) (Plan, error) {
	wanted, err := normalizeAll(want)
	if err != nil {
		return Plan{}, err
	}
	ch := diff(have, want, wanted)
	p := Plan{changes: ch}
	if len(ch.Add) > bulkThreshold {
		// After a flush or on a first start: one batched swap beats
		// thousands of single adds, and is atomic.
		p.replace = slices.Clone(want)
		p.added, p.removed = len(ch.Add), len(ch.Del)
		return p, nil
	}
	p.del = slices.Clone(ch.Del)
	p.add = append(slices.Clone(ch.Update), ch.Add...)
	if len(ch.Update) > 0 {
		p.update = make(map[netip.Prefix]bool, len(ch.Update))
		for _, e := range ch.Update {
			p.update[e.Prefix] = true
		}
	}
	return p, nil
}

// Changes returns the difference the plan was worked out from, entry by
// entry, however it is applied (by a swap of the whole sets, or entry by
// entry) and before any Keep: for callers that report the difference
// rather than apply it (recidivist check).
func (p Plan) Changes() Changes { return p.changes }

// Keep takes every change of prefixes for which keep is true out of the
// plan (their entries are left as they are); a swap of the whole sets
// cannot leave one alone, so it is kept whole.
func (p *Plan) Keep(keep func(netip.Prefix) bool) {
	if p.replace != nil {
		return
	}
	p.add = slices.DeleteFunc(p.add, func(e Entry) bool { return keep(e.Prefix) })
	p.del = slices.DeleteFunc(p.del, keep)
}

// Apply ensures the sets and rules, then carries the plan out.
func (p Plan) Apply(s Store) (Report, error) {
	repairs, err := s.Ensure()
	if err != nil {
		return Report{Repairs: repairs}, err
	}
	return p.apply(s, Report{Repairs: repairs})
}

func (p Plan) apply(s Store, rep Report) (Report, error) {
	if p.replace != nil {
		if err := s.Replace(p.replace, nil); err != nil {
			return rep, err
		}
		rep.Added, rep.Removed = p.added, p.removed
		return rep, nil
	}
	if len(p.del) > 0 {
		if err := s.Del(p.del...); err != nil {
			return rep, err
		}
		rep.Removed = len(p.del)
	}
	if len(p.add) > 0 {
		if err := s.Add(p.add...); err != nil {
			return rep, err
		}
		for _, e := range p.add {
			if p.update[e.Prefix] {
				rep.Updated++
			} else {
				rep.Added++
			}
		}
	}
	return rep, nil
}

// bulkThreshold is the number of missing entries above which Reconcile
// rebuilds the sets with Replace (atomic, and one transaction on
// nftables, which adds entry by entry) instead of one batched Add.
const bulkThreshold = 1000

// sameEntry reports whether a listed entry already is the wanted one.
func sameEntry(have, want Entry) bool {
	if have.Comment != want.Comment || have.NoMatch != want.NoMatch || (have.Timeout == 0) != (want.Timeout == 0) {
		return false
	}
	d := have.Timeout - want.Timeout
	return d <= TimeoutSlack && d >= -TimeoutSlack
}
