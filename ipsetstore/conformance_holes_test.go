package ipsetstore_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
)

// holeCases is the behaviour of holes (nomatch entries) and Exchange that
// every Store must have; net escalation rests on it. They run with the rest
// of the conformance suite (fake, ipset kernel, nftables kernel).
var holeCases = []struct {
	name string
	run  func(t *testing.T, s subject)
}{
	{"a_hole_inside_a_range_lists_as_a_nomatch_entry_and_goes_with_del", func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.0/24"), Comment: "recidivist"})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.7"), NoMatch: true})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("2001:db8:5::/64"), Comment: "recidivist"})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("2001:db8:5::9"), NoMatch: true})
		got := byPrefix(mustList(t, s.store))
		for _, want := range []ipsetstore.Entry{
			{Prefix: pfx("198.51.100.0/24"), Comment: "recidivist"},
			{Prefix: pfx("198.51.100.7"), NoMatch: true},
			{Prefix: pfx("2001:db8:5::/64"), Comment: "recidivist"},
			{Prefix: pfx("2001:db8:5::9"), NoMatch: true},
		} {
			g, ok := got[want.Prefix]
			if !ok || g.NoMatch != want.NoMatch || !want.NoMatch && g.Comment != want.Comment {
				t.Errorf("listing holds %+v for %s (listed: %v), want %+v", g, want.Prefix, ok, want)
			}
		}
		if len(got) != 4 {
			t.Errorf("listing = %v, want the 2 ranges and their 2 holes", got)
		}
		if err := s.store.Del(pfx("198.51.100.7")); err != nil {
			t.Fatalf("Del(hole): %v", err)
		}
		got = byPrefix(mustList(t, s.store))
		if has(got, pfx("198.51.100.7")) || !has(got, pfx("198.51.100.0/24")) || got[pfx("198.51.100.0/24")].Comment != "recidivist" {
			t.Errorf("after deleting the hole the sets hold %v, want the whole /24 again", got)
		}
		if err := s.store.Del(pfx("2001:db8:5::/64"), pfx("2001:db8:5::9")); err != nil {
			t.Fatalf("Del(range, hole): %v", err)
		}
		if got := byPrefix(mustList(t, s.store)); has(got, pfx("2001:db8:5::/64")) || has(got, pfx("2001:db8:5::9")) {
			t.Errorf("after deleting the range and its hole the sets hold %v", got)
		}
	}},
	{"two_neighbouring_holes_list_as_the_one_prefix_they_fill_and_reconcile_keeps_them", func(t *testing.T, s subject) {
		want := []ipsetstore.Entry{
			{Prefix: pfx("198.51.100.0/24"), Comment: "recidivist"},
			{Prefix: pfx("198.51.100.6/31"), NoMatch: true},
			{Prefix: pfx("198.51.100.33"), NoMatch: true},
		}
		mustReconcile(t, s.store, want)
		if rep := mustReconcile(t, s.store, want); rep.Changed() {
			t.Errorf("second Reconcile of a range with holes repaired %v, want nothing", rep)
		}
		got := mustList(t, s.store)
		holes := slices.DeleteFunc(slices.Clone(got), func(e ipsetstore.Entry) bool { return !e.NoMatch })
		if len(holes) != 2 || !slices.ContainsFunc(holes, func(e ipsetstore.Entry) bool { return e.Prefix == pfx("198.51.100.6/31") }) {
			t.Errorf("holes listed = %v, want 198.51.100.6/31 and 198.51.100.33", holes)
		}
	}},
	{"replace_keeps_holes", func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		want := []ipsetstore.Entry{
			{Prefix: pfx("198.51.100.0/24"), Comment: "recidivist"},
			{Prefix: pfx("198.51.100.7"), NoMatch: true},
			{Prefix: pfx("203.0.113.1"), Comment: "recidivist"},
		}
		if err := s.store.Replace(want, nil); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		got := byPrefix(mustList(t, s.store))
		if len(got) != 3 || !got[pfx("198.51.100.7")].NoMatch || got[pfx("198.51.100.0/24")].NoMatch {
			t.Errorf("after Replace the sets hold %v, want the /24, its hole .7 and 203.0.113.1", got)
		}
	}},
	{"exchange_puts_a_range_in_place_of_its_members_and_back", func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		members := []netip.Prefix{pfx("198.51.100.7"), pfx("198.51.100.9"), pfx("198.51.100.33")}
		for _, m := range members {
			mustAdd(t, s.store, ipsetstore.Entry{Prefix: m, Comment: "recidivist"})
		}
		r := pfx("198.51.100.0/24")
		if err := s.store.Exchange([]ipsetstore.Entry{{Prefix: r, Comment: "recidivist net"}}, members); err != nil {
			t.Fatalf("Exchange(range for members): %v", err)
		}
		got := byPrefix(mustList(t, s.store))
		if len(got) != 1 || !has(got, r) {
			t.Errorf("after the exchange the sets hold %v, want only %s", got, r)
		}
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.7"), NoMatch: true})
		back := []ipsetstore.Entry{{Prefix: members[1], Comment: "recidivist"}, {Prefix: members[2], Comment: "recidivist"}}
		if err := s.store.Exchange(back, []netip.Prefix{r, pfx("198.51.100.7")}); err != nil {
			t.Fatalf("Exchange(members for range): %v", err)
		}
		got = byPrefix(mustList(t, s.store))
		if len(got) != 2 || !has(got, members[1]) || !has(got, members[2]) {
			t.Errorf("after the collapse the sets hold %v, want %s and %s", got, members[1], members[2])
		}
	}},
	{"an_entry_added_over_a_hole_then_exchanged_for_the_whole_range_leaves_the_range_whole", func(t *testing.T, s subject) {
		// An offender unbanned earlier offends again: the daemon adds its
		// address (over the hole), then closes the hole by writing the
		// range again and deleting the address.
		mustEnsure(t, s.store)
		r := pfx("198.51.100.0/24")
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: r, Comment: "recidivist"})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.9"), NoMatch: true})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.9"), Comment: "recidivist"})
		if err := s.store.Exchange([]ipsetstore.Entry{{Prefix: r, Comment: "recidivist"}}, []netip.Prefix{pfx("198.51.100.9")}); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		got := mustList(t, s.store)
		if len(got) != 1 || got[0].Prefix != r || got[0].NoMatch {
			t.Errorf("the sets hold %v, want the whole /24 alone", got)
		}
	}},
	{"adding_a_split_range_again_keeps_its_holes_and_changes_its_comment", func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		r := pfx("198.51.100.0/24")
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: r, Comment: "old"})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("198.51.100.9"), NoMatch: true})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: r, Comment: "new"})
		got := byPrefix(mustList(t, s.store))
		if len(got) != 2 || got[r].Comment != "new" || !got[pfx("198.51.100.9")].NoMatch {
			t.Errorf("the sets hold %v, want the /24 commented new and its hole", got)
		}
	}},
}

func init() {
	for _, c := range holeCases {
		conformance = append(conformance, struct {
			name string
			cfg  func(*ipsetstore.Config)
			run  func(t *testing.T, s subject)
		}{c.name, nil, c.run})
	}
}
