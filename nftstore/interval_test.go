package nftstore

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
)

func TestIntervalsRoundTripThroughTheirEnds(t *testing.T) {
	tests := []struct{ prefix, start, end string }{
		{"192.0.2.7/32", "192.0.2.7", "192.0.2.8"},
		{"198.51.100.0/24", "198.51.100.0", "198.51.101.0"},
		{"10.255.255.255/32", "10.255.255.255", "11.0.0.0"},
		{"2001:db8::/48", "2001:db8::", "2001:db8:1::"},
		{"2001:db8::1/128", "2001:db8::1", "2001:db8::2"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			p := netip.MustParsePrefix(tt.prefix)
			iv, err := intervalOf(p)
			if err != nil {
				t.Fatalf("intervalOf: %v", err)
			}
			if iv.start.String() != tt.start || iv.end.String() != tt.end {
				t.Fatalf("interval = [%s, %s), want [%s, %s)", iv.start, iv.end, tt.start, tt.end)
			}
			back, exact := prefixOf(iv.start, iv.end)
			if back != p || !exact {
				t.Fatalf("prefixOf = %s (exact %v), want %s", back, exact, p)
			}
		})
	}
}

func TestARangeReachingTheTopOfTheAddressSpaceIsRefused(t *testing.T) {
	for _, s := range []string{"255.255.255.255/32", "240.0.0.0/4", "ffff::/16", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"} {
		if _, err := intervalOf(netip.MustParsePrefix(s)); !errors.Is(err, ipsetstore.ErrBadPrefix) {
			t.Errorf("intervalOf(%s) = %v, want ErrBadPrefix", s, err)
		}
	}
}

func TestARangeThatIsNoPrefixReadsBackAsItsCoveringPrefix(t *testing.T) {
	p, exact := prefixOf(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.4"))
	if exact || p != netip.MustParsePrefix("192.0.2.0/30") {
		t.Fatalf("prefixOf(.1, .4) = %s exact %v, want 192.0.2.0/30 not exact", p, exact)
	}
}

func TestCoveredAndRepeatedEntriesAreDroppedBeforeAReplace(t *testing.T) {
	in := []ipsetstore.Entry{
		{Prefix: netip.MustParsePrefix("10.0.0.7/32"), Comment: "member"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Comment: "range"},
		{Prefix: netip.MustParsePrefix("10.0.1.1/32"), Comment: "old"},
		{Prefix: netip.MustParsePrefix("10.0.1.1/32"), Comment: "new"},
		{Prefix: netip.MustParsePrefix("::a00:7/128")},
	}
	got := dropCovered(in)
	want := []string{"10.0.0.0/24 range", "10.0.1.1/32 new", "::a00:7/128 "}
	if len(got) != len(want) {
		t.Fatalf("dropCovered = %v, want %v", got, want)
	}
	for i, e := range got {
		if s := e.Prefix.String() + " " + e.Comment; s != want[i] {
			t.Errorf("entry %d = %q, want %q", i, s, want[i])
		}
	}
}
