package ipsetstore

import (
	"fmt"
	"net/netip"
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
	repairs, err := s.Ensure()
	if err != nil {
		return Report{Repairs: repairs}, err
	}
	return apply(s, have, want, Report{Repairs: repairs})
}

// apply makes the sets, listed as have, hold want; rep carries the repairs
// of the Ensure before.
func apply(s Store, have, want []Entry, rep Report) (Report, error) {
	wanted := make(map[netip.Prefix]Entry, len(want))
	for _, e := range want {
		n, err := Normalize(e)
		if err != nil {
			return rep, fmt.Errorf("reconciling: %w", err)
		}
		wanted[n.Prefix] = n
	}
	if missing := len(wanted) - countKept(have, wanted); missing > bulkThreshold {
		// After a flush or on a first start: one batched swap beats
		// thousands of single adds, and is atomic.
		if err := s.Replace(want); err != nil {
			return rep, err
		}
		rep.Added, rep.Removed = missing, len(have)-(len(wanted)-missing)
		return rep, nil
	}
	seen := make(map[netip.Prefix]bool, len(have))
	for _, h := range have {
		seen[h.Prefix] = true
		w, ok := wanted[h.Prefix]
		if !ok {
			if err := s.Del(h.Prefix); err != nil {
				return rep, err
			}
			rep.Removed++
			continue
		}
		if sameEntry(h, w) {
			continue
		}
		if err := s.Add(w); err != nil {
			return rep, err
		}
		rep.Updated++
	}
	for _, e := range want {
		n, _ := Normalize(e) // checked above
		if seen[n.Prefix] {
			continue
		}
		seen[n.Prefix] = true // want may hold a prefix twice
		if err := s.Add(wanted[n.Prefix]); err != nil {
			return rep, err
		}
		rep.Added++
	}
	return rep, nil
}

// bulkThreshold is the number of missing entries above which Reconcile
// rebuilds the sets with Replace instead of adding one by one.
const bulkThreshold = 1000

// countKept counts the listed entries that want keeps.
func countKept(have []Entry, wanted map[netip.Prefix]Entry) int {
	n := 0
	for _, h := range have {
		if _, ok := wanted[h.Prefix]; ok {
			n++
		}
	}
	return n
}

// sameEntry reports whether a listed entry already is the wanted one.
func sameEntry(have, want Entry) bool {
	if have.Comment != want.Comment || (have.Timeout == 0) != (want.Timeout == 0) {
		return false
	}
	d := have.Timeout - want.Timeout
	return d <= TimeoutSlack && d >= -TimeoutSlack
}
