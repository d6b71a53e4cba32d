package watcher

import (
	"net/netip"
	"testing"
)

func TestFilter_Allow(t *testing.T) {
	ban := func(jail, addr string) Ban { return Ban{Jail: jail, Addr: netip.MustParseAddr(addr)} }
	prefixes := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	tests := []struct {
		name    string
		jails   []string
		exclude []string
		ignore  []netip.Prefix
		ban     Ban
		want    bool
	}{
		{"any_jail_counts_when_none_is_selected", nil, nil, nil, ban("sshd", "192.0.2.1"), true},
		{"an_excluded_jail_never_counts", nil, []string{"recidive"}, nil, ban("recidive", "192.0.2.1"), false},
		{"other_jails_count_beside_an_excluded_one", nil, []string{"recidive"}, nil, ban("sshd", "192.0.2.1"), true},
		{"a_selected_jail_counts", []string{"sshd", "postfix-sasl"}, nil, nil, ban("postfix-sasl", "192.0.2.1"), true},
		{"an_unselected_jail_does_not_count", []string{"sshd"}, nil, nil, ban("nginx-http-auth", "192.0.2.1"), false},
		{"exclusion_wins_over_selection", []string{"sshd"}, []string{"sshd"}, nil, ban("sshd", "192.0.2.1"), false},
		{"jail_names_are_case_sensitive", nil, []string{"recidive"}, nil, ban("Recidive", "192.0.2.1"), true},
		{"an_ignored_address_does_not_count", nil, nil, prefixes("203.0.113.99/32"), ban("sshd", "203.0.113.99"), false},
		{"an_address_in_an_ignored_range_does_not_count", nil, nil, prefixes("10.0.0.0/8"), ban("sshd", "10.200.3.4"), false},
		{"an_address_next_to_an_ignored_range_counts", nil, nil, prefixes("10.0.0.0/8"), ban("sshd", "11.0.0.1"), true},
		{"an_ignored_ipv6_range", nil, nil, prefixes("2001:db8:5::/48"), ban("sshd", "2001:db8:5::5"), false},
		{"an_unmasked_ignore_prefix_is_masked", nil, nil, prefixes("192.0.2.77/24"), ban("sshd", "192.0.2.1"), false},
		{"an_ipv4_mapped_ignore_prefix_covers_ipv4", nil, nil, prefixes("::ffff:198.51.100.0/120"), ban("sshd", "198.51.100.150"), false},
		{"an_ipv4_range_does_not_cover_ipv6", nil, nil, prefixes("0.0.0.0/0"), ban("sshd", "2001:db8::1"), true},
		{"ipv4_loopback_is_always_ignored", nil, nil, nil, ban("sshd", "127.0.0.1"), false},
		{"the_whole_ipv4_loopback_range_is_ignored", nil, nil, nil, ban("sshd", "127.45.6.7"), false},
		{"ipv6_loopback_is_always_ignored", nil, nil, nil, ban("sshd", "::1"), false},
		{"a_mapped_loopback_ban_is_ignored", nil, nil, nil, ban("sshd", "::ffff:127.0.0.1"), false},
		{"loopback_stays_ignored_with_a_custom_list", nil, nil, prefixes("10.0.0.0/8"), ban("sshd", "127.0.0.1"), false},
		{"a_zero_prefix_in_the_list_ignores_nothing", nil, nil, []netip.Prefix{{}}, ban("sshd", "192.0.2.1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFilter(tt.jails, tt.exclude, tt.ignore)
			if got := f.Allow(tt.ban); got != tt.want {
				t.Errorf("Allow([%s] %s) = %v, want %v", tt.ban.Jail, tt.ban.Addr, got, tt.want)
			}
		})
	}
}

func TestFilter_does_not_keep_the_callers_slices(t *testing.T) {
	jails := []string{"sshd"}
	ignore := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f := NewFilter(jails, nil, ignore)
	jails[0] = "postfix"
	ignore[0] = netip.MustParsePrefix("192.0.2.0/24")
	if !f.Allow(Ban{Jail: "sshd", Addr: netip.MustParseAddr("192.0.2.1")}) {
		t.Error("changing the caller's slices changed the filter")
	}
}
