package export

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

func entries(ps ...string) []blocklist.Entry {
	var es []blocklist.Entry
	for _, p := range ps {
		pfx, err := blocklist.ParsePrefix(p)
		if err != nil {
			panic(err)
		}
		es = append(es, blocklist.Entry{Prefix: pfx})
	}
	return es
}

func prefixes(es []blocklist.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Prefix.String())
	}
	return out
}

func TestAggregate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"two_adjacent_addresses_on_an_even_boundary_become_a_31", []string{"192.0.2.1", "192.0.2.0"}, []string{"192.0.2.0/31"}},
		{"two_adjacent_addresses_across_a_boundary_stay_apart", []string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{"a_full_24_of_addresses_becomes_one_prefix", full24(), []string{"198.51.100.0/24"}},
		{"an_address_inside_a_range_goes", []string{"203.0.113.7", "203.0.113.0/24"}, []string{"203.0.113.0/24"}},
		{"two_adjacent_25s_become_a_24", []string{"203.0.113.128/25", "203.0.113.0/25"}, []string{"203.0.113.0/24"}},
		{"three_addresses_in_a_row_give_the_fewest_aligned_blocks", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, []string{"10.0.0.1/32", "10.0.0.2/31"}},
		{"families_never_merge_and_ipv4_comes_first", []string{"2001:db8::1", "192.0.2.0", "2001:db8::", "192.0.2.1"}, []string{"192.0.2.0/31", "2001:db8::/127"}},
		{"ipv6_64s_merge_across_the_64_bit_half", []string{"2001:db8:0:1::/64", "2001:db8::/64"}, []string{"2001:db8::/63"}},
		{"the_top_of_the_address_space_does_not_wrap", []string{"255.255.255.254", "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"255.255.255.254/31", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"}},
		{"duplicates_collapse", []string{"192.0.2.9", "192.0.2.9"}, []string{"192.0.2.9/32"}},
		{"nothing_gives_nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := prefixes(aggregate(entries(tc.in...)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("aggregate(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func full24() []string {
	var out []string
	for i := 255; i >= 0; i-- {
		out = append(out, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())
	}
	return out
}

// TestAggregateCoversExactlyTheSameAddresses checks random sets of small
// IPv4 prefixes against a brute-force count of the addresses covered: the
// result covers the same addresses, is disjoint, and no two of its
// prefixes could be one.
func TestAggregateCoversExactlyTheSameAddresses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var in []blocklist.Entry
		want := map[netip.Addr]bool{}
		for range 1 + r.IntN(40) {
			bits := 24 + r.IntN(9)
			a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))})
			p := netip.PrefixFrom(a, bits).Masked()
			in = append(in, blocklist.Entry{Prefix: p})
			for x := p.Addr(); p.Contains(x); x = x.Next() {
				want[x] = true
			}
		}
		out := aggregate(in)
		got := map[netip.Addr]bool{}
		for _, e := range out {
			for x := e.Prefix.Addr(); e.Prefix.Contains(x); x = x.Next() {
				if got[x] {
					t.Fatalf("round %d: %s is covered twice in %v", round, x, prefixes(out))
				}
				got[x] = true
			}
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d addresses covered, want %d (in %v, out %v)", round, len(got), len(want), prefixes(in), prefixes(out))
		}
		for x := range want {
			if !got[x] {
				t.Fatalf("round %d: %s lost (out %v)", round, x, prefixes(out))
			}
		}
		for i := 1; i < len(out); i++ {
			a, b := out[i-1].Prefix, out[i].Prefix
			if a.Bits() == b.Bits() && a.Bits() > 0 {
				if parent := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked(); parent.Contains(b.Addr()) && parent.Addr() == a.Addr() {
					t.Fatalf("round %d: %s and %s should have merged into %s", round, a, b, parent)
				}
			}
		}
	}
}

func TestAggregateKeepsTheLatestTimes(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	es := entries("192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3")
	es[0].Added, es[0].Expires = t0, t0.Add(time.Hour)
	es[1].Added, es[1].Expires = t0.Add(time.Minute), t0.Add(2*time.Hour)
	es[2].Added, es[2].Expires = t0, t0.Add(time.Hour)
	es[3].Added, es[3].Expires = t0, time.Time{}
	got := aggregate(es[:2])
	if len(got) != 1 || !got[0].Added.Equal(t0.Add(time.Minute)) || !got[0].Expires.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("aggregate of two timed entries = %+v, want one /31 added at the later time, expiring at the later expiry", got)
	}
	got = aggregate(es)
	if len(got) != 1 || !got[0].Expires.IsZero() {
		t.Errorf("aggregate with a permanent member = %+v, want one permanent /30", got)
	}
}
