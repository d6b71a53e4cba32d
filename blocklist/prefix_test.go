package blocklist_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when an error is expected
	}{
		{"single_ipv4_becomes_a_32", "192.0.2.1", "192.0.2.1/32"},
		{"explicit_32_is_the_same_prefix", "192.0.2.1/32", "192.0.2.1/32"},
		{"single_ipv6_becomes_a_128", "2001:db8::1", "2001:db8::1/128"},
		{"ipv6_is_written_in_canonical_form", "2001:DB8:0:0::0001", "2001:db8::1/128"},
		{"host_bits_are_masked", "198.51.100.77/24", "198.51.100.0/24"},
		{"ipv6_host_bits_are_masked", "2001:db8::1/48", "2001:db8::/48"},
		{"ipv4_mapped_ipv6_folds_to_ipv4", "::ffff:192.0.2.1", "192.0.2.1/32"},
		{"ipv4_mapped_range_folds_to_ipv4", "::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"short_mapped_range_stays_ipv6", "::ffff:0:0/80", "::/80"},
		{"out_of_range_octet_is_refused", "999.1.1.1", ""},
		{"prefix_too_long_is_refused", "10.0.0.1/33", ""},
		{"ipv6_prefix_too_long_is_refused", "2001:db8::/129", ""},
		{"zone_is_refused", "fe80::1%eth0", ""},
		{"leading_zeros_are_refused", "010.0.0.1", ""},
		{"hostname_is_refused", "example.com", ""},
		{"empty_is_refused", "", ""},
		{"trailing_garbage_is_refused", "10.0.0.1x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := blocklist.ParsePrefix(tt.in)
			if tt.want == "" {
				if !errors.Is(err, blocklist.ErrNotAddress) {
					t.Fatalf("ParsePrefix(%q) = %v, %v; want ErrNotAddress", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefix(%q): %v", tt.in, err)
			}
			if got != netip.MustParsePrefix(tt.want) {
				t.Errorf("ParsePrefix(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
