package ipsetstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
)

func TestNewValidatesTheConfig(t *testing.T) {
	ok := ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"}
	cases := []struct {
		name    string
		change  func(c *ipsetstore.Config)
		wantErr string // "" for valid; else a word the message must name
	}{
		{"the_defaults_are_valid", func(*ipsetstore.Config) {}, ""},
		{"a_30_character_set_name_fits_with_its_6", func(c *ipsetstore.Config) { c.SetName = strings.Repeat("s", 30) }, ""},
		{"a_31_character_set_name_leaves_no_room_for_the_6", func(c *ipsetstore.Config) { c.SetName = strings.Repeat("s", 31) }, "set-name"},
		{"an_empty_set_name_is_refused", func(c *ipsetstore.Config) { c.SetName = "" }, "set-name"},
		{"no_chain_is_refused", func(c *ipsetstore.Config) { c.Chains = nil }, "chain"},
		{"a_chain_with_a_blank_is_refused", func(c *ipsetstore.Config) { c.Chains = []string{"IN PUT"} }, "chain"},
		{"reject_is_a_target", func(c *ipsetstore.Config) { c.Target = "REJECT" }, ""},
		{"accept_is_not_a_target", func(c *ipsetstore.Config) { c.Target = "ACCEPT" }, "target"},
		{"tcp_ports_are_valid", func(c *ipsetstore.Config) { c.Ports = "tcp:22,80,443" }, ""},
		{"a_port_range_is_valid", func(c *ipsetstore.Config) { c.Ports = "udp:1000:2000,53" }, ""},
		{"ports_without_protocol_are_refused", func(c *ipsetstore.Config) { c.Ports = "22,80" }, "ports"},
		{"port_zero_is_refused", func(c *ipsetstore.Config) { c.Ports = "tcp:0" }, "ports"},
		{"a_port_above_65535_is_refused", func(c *ipsetstore.Config) { c.Ports = "tcp:70000" }, "ports"},
		{"sctp_ports_are_valid", func(c *ipsetstore.Config) { c.Ports = "sctp:22,1000:2000" }, ""},
		{"fifteen_ports_are_what_multiport_takes", func(c *ipsetstore.Config) {
			c.Ports = "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
		}, ""},
		{"a_range_takes_two_of_multiport's_fifteen_places", func(c *ipsetstore.Config) {
			c.Ports = "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:20"
		}, "ports"},
		{"a_chain_that_reads_as_an_option_is_refused", func(c *ipsetstore.Config) { c.Chains = []string{"-F"} }, "chain"},
		{"a_set_name_with_a_slash_is_refused", func(c *ipsetstore.Config) { c.SetName = "a/b" }, "set-name"},
		{"sixteen_ports_are_too_many_for_multiport", func(c *ipsetstore.Config) {
			c.Ports = "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"
		}, "ports"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.change(&cfg)
			_, err := ipsetstore.New(cfg)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("New(%+v) = %v, want valid", cfg, err)
			case c.wantErr != "" && (!errors.Is(err, ipsetstore.ErrBadConfig) || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("New(%+v) = %v, want ErrBadConfig naming %q", cfg, err, c.wantErr)
			}
		})
	}
}

func TestNormalizeStoresEntriesTheWayTheKernelDoes(t *testing.T) {
	cases := []struct {
		name string
		in   ipsetstore.Entry
		want ipsetstore.Entry
	}{
		{"a_range_is_masked", ipsetstore.Entry{Prefix: pfx("10.1.2.3/16")}, ipsetstore.Entry{Prefix: pfx("10.1.0.0/16")}},
		{"a_fraction_of_a_second_rounds_up", ipsetstore.Entry{Prefix: pfx("10.0.0.1"), Timeout: 1500e6}, ipsetstore.Entry{Prefix: pfx("10.0.0.1"), Timeout: 2e9}},
		{"a_month_is_capped_at_the_kernel_maximum", ipsetstore.Entry{Prefix: pfx("::1"), Timeout: 30 * 24 * 3600e9}, ipsetstore.Entry{Prefix: pfx("::1"), Timeout: ipsetstore.MaxTimeout}},
		{"a_long_comment_is_cut_at_255_bytes", ipsetstore.Entry{Prefix: pfx("::1"), Comment: strings.Repeat("x", 300)}, ipsetstore.Entry{Prefix: pfx("::1"), Comment: strings.Repeat("x", 255)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ipsetstore.Normalize(c.in)
			if err != nil || got != c.want {
				t.Fatalf("Normalize(%+v) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
		})
	}
}
