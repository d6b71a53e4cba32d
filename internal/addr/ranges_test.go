package addr

import (
	"net/netip"
	"slices"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestCover_spells_a_set_of_holes_with_the_fewest_prefixes(t *testing.T) {
	tests := []struct {
		name string
		in   []netip.Prefix
		want []netip.Prefix
	}{
		{"one_address_stays_itself", prefixes("10.0.0.7/32"), prefixes("10.0.0.7/32")},
		{"two_aligned_neighbours_become_a_slash_31", prefixes("10.0.0.7/32", "10.0.0.6/32"), prefixes("10.0.0.6/31")},
		{"two_unaligned_neighbours_stay_two", prefixes("10.0.0.7/32", "10.0.0.8/32"), prefixes("10.0.0.7/32", "10.0.0.8/32")},
		{"a_prefix_swallows_what_it_contains", prefixes("10.0.0.8/29", "10.0.0.9/32"), prefixes("10.0.0.8/29")},
		{"three_neighbours_from_an_odd_start", prefixes("10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"), prefixes("10.0.0.1/32", "10.0.0.2/31")},
		{"families_stay_apart_ipv4_first", prefixes("2001:db8::1/128", "10.0.0.1/32"), prefixes("10.0.0.1/32", "2001:db8::1/128")},
		{"the_top_of_the_space_ends_the_walk", prefixes("255.255.255.255/32", "255.255.255.254/32"), prefixes("255.255.255.254/31")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cover(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Cover(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRangePrefixes_covers_a_range_exactly(t *testing.T) {
	got := RangePrefixes(netip.MustParseAddr("198.51.100.0"), netip.MustParseAddr("198.51.100.6"))
	want := prefixes("198.51.100.0/30", "198.51.100.4/31", "198.51.100.6/32")
	if !slices.Equal(got, want) {
		t.Errorf("RangePrefixes(.0, .6) = %v, want %v", got, want)
	}
}

func TestSubtract_leaves_the_addresses_outside_the_given_prefixes(t *testing.T) {
	tests := []struct {
		name string
		p    netip.Prefix
		bs   []netip.Prefix
		want []netip.Prefix
	}{
		{"nothing_taken", netip.MustParsePrefix("10.0.0.0/30"), nil, prefixes("10.0.0.0/30")},
		{"one_address_from_the_middle", netip.MustParsePrefix("10.0.0.0/29"), prefixes("10.0.0.5/32"), prefixes("10.0.0.0/30", "10.0.0.4/32", "10.0.0.6/31")},
		{"everything_taken", netip.MustParsePrefix("10.0.0.0/30"), prefixes("10.0.0.0/29"), nil},
		{"prefixes_elsewhere_are_ignored", netip.MustParsePrefix("10.0.0.0/31"), prefixes("10.9.0.0/16"), prefixes("10.0.0.0/31")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subtract(tt.p, tt.bs); !slices.Equal(got, tt.want) {
				t.Errorf("Subtract(%s, %v) = %v, want %v", tt.p, tt.bs, got, tt.want)
			}
		})
	}
}
