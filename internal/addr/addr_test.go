package addr

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParsePrefix_gives_each_address_one_spelling(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		zone           bool
	}{
		{"a single IPv4 address is a /32", "192.0.2.7", "192.0.2.7/32", false},
		{"a single IPv6 address is a /128", "2001:db8::1", "2001:db8::1/128", false},
		{"host bits are masked off", "10.0.0.7/24", "10.0.0.0/24", false},
		{"an IPv4-mapped address is folded to IPv4", "::ffff:192.0.2.1", "192.0.2.1/32", false},
		{"an IPv4-mapped range is folded to IPv4", "::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"a mapped range wider than /96 stays IPv6", "::ffff:0:0/80", "::/80", false},
		{"a zone is refused", "fe80::1%eth0", "", true},
		{"a zone in a range is refused", "fe80::1%eth0/64", "", false},
		{"a host name is refused", "example.org", "", false},
		{"a prefix longer than the family is refused", "10.0.0.0/33", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrefix(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParsePrefix(%q) = %v, want an error", tc.in, got)
				}
				if tc.zone && !errors.Is(err, ErrZone) {
					t.Errorf("ParsePrefix(%q) = %v, want ErrZone", tc.in, err)
				}
				return
			}
			if err != nil || got != netip.MustParsePrefix(tc.want) {
				t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonical_folds_masks_and_keeps_the_invalid_invalid(t *testing.T) {
	zoned := netip.PrefixFrom(netip.MustParseAddr("fe80::1%eth0"), 64)
	for _, tc := range []struct {
		name string
		in   netip.Prefix
		want netip.Prefix
	}{
		{"a mapped /120 is an IPv4 /24", netip.MustParsePrefix("::ffff:192.0.2.9/120"), netip.MustParsePrefix("192.0.2.0/24")},
		{"a canonical prefix is unchanged", netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("2001:db8::/32")},
		{"a zone is dropped", zoned, netip.MustParsePrefix("fe80::/64")},
		{"the zero prefix stays invalid", netip.Prefix{}, netip.Prefix{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Canonical(tc.in); got != tc.want {
				t.Errorf("Canonical(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
