package blocklist_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

func TestPolicyCheck(t *testing.T) {
	policy := blocklist.Policy{Ignore: []netip.Prefix{pfx("203.0.113.99/32"), pfx("10.0.0.0/8"), pfx("3fff:0:ffff::/48")}}
	tests := []struct {
		name  string
		pfx   string
		force bool
		want  error // nil: allowed
		hint  string
	}{
		{"an_ordinary_address_is_allowed", "198.51.100.7/32", false, nil, ""},
		{"an_ordinary_ipv6_address_is_allowed", "2001:db8::7/128", false, nil, ""},
		{"a_slash_16_is_allowed", "198.51.0.0/16", false, nil, ""},
		{"an_ipv6_slash_32_is_allowed", "2001:db8::/32", false, nil, ""},
		{"an_address_in_the_ignore_list_is_refused", "203.0.113.99/32", false, blocklist.ErrIgnored, "ignore"},
		{"an_address_inside_an_ignored_range_is_refused", "10.1.2.3/32", false, blocklist.ErrIgnored, "10.0.0.0/8"},
		{"a_range_overlapping_an_ignored_address_is_refused", "203.0.113.0/24", false, blocklist.ErrIgnored, "203.0.113.99"},
		{"force_does_not_override_the_ignore_list", "203.0.113.99/32", true, blocklist.ErrIgnored, "ignore"},
		{"loopback_is_always_ignored", "127.0.0.1/32", false, blocklist.ErrIgnored, "127.0.0.0/8"},
		{"ipv6_loopback_is_always_ignored", "::1/128", false, blocklist.ErrIgnored, "::1"},
		{"ipv4_mapped_loopback_is_ignored_too", "::ffff:127.0.0.1/128", false, blocklist.ErrIgnored, "127.0.0.0/8"},
		{"an_ipv6_address_in_an_ignored_range_is_refused", "3fff:0:ffff::5/128", false, blocklist.ErrIgnored, "3fff:0:ffff::/48"},
		{"all_of_ipv4_is_refused", "0.0.0.0/0", false, blocklist.ErrEverything, ""},
		{"all_of_ipv4_is_refused_even_with_force", "0.0.0.0/0", true, blocklist.ErrEverything, ""},
		{"all_of_ipv6_is_refused_even_with_force", "::/0", true, blocklist.ErrEverything, ""},
		{"wider_than_slash_16_needs_force", "198.0.0.0/15", false, blocklist.ErrTooWide, "--force"},
		{"wider_than_slash_16_with_force_is_allowed", "198.0.0.0/15", true, nil, ""},
		{"ipv6_wider_than_slash_32_needs_force", "2001:d00::/24", false, blocklist.ErrTooWide, "--force"},
		{"ipv6_wider_than_slash_32_with_force_is_allowed", "2001:d00::/24", true, nil, ""},
		{"multicast_is_refused", "224.0.0.251/32", false, blocklist.ErrNotUnicast, ""},
		{"multicast_is_refused_even_with_force", "239.1.2.3/32", true, blocklist.ErrNotUnicast, ""},
		{"ipv6_multicast_is_refused", "ff02::1/128", false, blocklist.ErrNotUnicast, ""},
		{"the_unspecified_address_is_refused", "0.0.0.0/32", false, blocklist.ErrNotUnicast, ""},
		{"the_ipv6_unspecified_address_is_refused", "::/128", false, blocklist.ErrNotUnicast, ""},
		{"the_broadcast_address_is_refused", "255.255.255.255/32", false, blocklist.ErrNotUnicast, ""},
		{"a_multicast_range_is_refused", "232.0.0.0/16", false, blocklist.ErrNotUnicast, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := policy.Check(netip.MustParsePrefix(tt.pfx), tt.force)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check(%s, %v) = %v, want allowed", tt.pfx, tt.force, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check(%s, %v) = %v, want %v", tt.pfx, tt.force, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q does not mention %q", err, tt.hint)
			}
		})
	}
}

func TestEmptyPolicyStillRefusesLoopback(t *testing.T) {
	var p blocklist.Policy
	if err := p.Check(pfx("127.0.0.53/32"), true); !errors.Is(err, blocklist.ErrIgnored) {
		t.Errorf("Check(127.0.0.53) = %v, want ErrIgnored", err)
	}
	if err := p.Check(netip.Prefix{}, false); !errors.Is(err, blocklist.ErrNotAddress) {
		t.Errorf("Check(invalid) = %v, want ErrNotAddress", err)
	}
}
