package ipsetstore

import (
	"fmt"
	"net/netip"
)

// Changes is what turns a listing of the sets into the wanted entries
// (see Diff and Plan.Changes).
type Changes struct {
	// Add are the wanted entries the sets lack, normalised, in the order
	// of want, each prefix once; an entry inside a wanted range the sets
	// hold is not lacking.
	Add []Entry
	// Del are the listed prefixes nobody wants, in the order listed.
	Del []netip.Prefix
	// Update are wanted entries the sets hold with another comment, or
	// with a timeout more than TimeoutSlack away (see Reconcile), in the
	// order listed.
	Update []Entry
}

// normalizeAll returns want normalised, by prefix.
func normalizeAll(want []Entry) (map[netip.Prefix]Entry, error) {
	wanted := make(map[netip.Prefix]Entry, len(want))
	for _, e := range want {
		n, err := Normalize(e)
		if err != nil {
			return nil, fmt.Errorf("reconciling: %w", err)
		}
		wanted[n.Prefix] = n
	}
	return wanted, nil
}

// diff is Diff with want already normalised into wanted.
func diff(have, want []Entry, wanted map[netip.Prefix]Entry) Changes {
	var ch Changes
	seen := make(map[netip.Prefix]bool, len(have))
	listed := make(map[netip.Prefix]bool, len(have))
	for _, h := range have {
		seen[h.Prefix] = true
		listed[h.Prefix] = true
		w, ok := wanted[h.Prefix]
		switch {
		case !ok:
			ch.Del = append(ch.Del, h.Prefix)
		case !sameEntry(h, w):
			ch.Update = append(ch.Update, w)
		}
	}
	// A wanted entry inside a wanted range that is in the kernel is
	// blocked already; the nftables backend cannot even hold both.
	inForce := func(q netip.Prefix) bool {
		if listed[q] {
			return true
		}
		for b := q.Bits() - 1; b > 0; b-- {
			if r := netip.PrefixFrom(q.Addr(), b).Masked(); listed[r] {
				if _, ok := wanted[r]; ok {
					return true
				}
			}
		}
		return false
	}
	for _, e := range want {
		p := e.Prefix.Masked()                   // as Normalize, which succeeded for every e
		if seen[p] || !e.NoMatch && inForce(p) { // a hole is never in force by its range
			continue
		}
		seen[p] = true // want may hold a prefix twice
		ch.Add = append(ch.Add, wanted[p])
	}
	return ch
}
