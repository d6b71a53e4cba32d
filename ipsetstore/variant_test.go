package ipsetstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
)

func TestConfig_Validate_accepts_the_iptables_variants_and_names_a_bad_one(t *testing.T) {
	for _, v := range []string{"", "auto", "nft", "legacy"} {
		cfg := ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", Variant: ipsetstore.Variant(v)}
		if err := cfg.Validate(); err != nil {
			t.Errorf("variant %q: %v, want valid", v, err)
		}
	}
	cfg := ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", Variant: "xtables"}
	if err := cfg.Validate(); !errors.Is(err, ipsetstore.ErrBadConfig) || !strings.Contains(err.Error(), "iptables-variant") {
		t.Errorf("variant xtables: %v, want ErrBadConfig naming iptables-variant", err)
	}
}

func TestVariant_Command_names_the_binary_of_each_variant_and_family(t *testing.T) {
	for _, tc := range []struct {
		variant string
		f       ipsetstore.Family
		want    string
	}{
		{"auto", ipsetstore.IPv4, "iptables"},
		{"", ipsetstore.IPv6, "ip6tables"},
		{"nft", ipsetstore.IPv4, "iptables-nft"},
		{"nft", ipsetstore.IPv6, "ip6tables-nft"},
		{"legacy", ipsetstore.IPv4, "iptables-legacy"},
		{"legacy", ipsetstore.IPv6, "ip6tables-legacy"},
	} {
		if got := ipsetstore.Variant(tc.variant).Command(tc.f); got != tc.want {
			t.Errorf("Variant(%q).Command(%v) = %q, want %q", tc.variant, tc.f, got, tc.want)
		}
	}
}

// TestEnsure_puts_the_rules_into_the_configured_iptables_variant runs in a
// namespace: each variant's rules land in its own tables (iptables-nft
// and iptables-legacy are two kernel subsystems), and not in the other's.
func TestEnsure_puts_the_rules_into_the_configured_iptables_variant(t *testing.T) {
	for _, tc := range []struct{ variant, other string }{{"legacy", "nft"}, {"nft", "legacy"}} {
		t.Run(tc.variant, func(t *testing.T) {
			s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", Variant: ipsetstore.Variant(tc.variant)})
			mustEnsure(t, s)
			for _, fam := range ipsetstore.Families {
				mine := ipsetstore.Variant(tc.variant).Command(fam)
				other := ipsetstore.Variant(tc.other).Command(fam)
				if got := rules(t, mine, "INPUT"); len(got) != 1 || !strings.Contains(got[0], "--match-set") {
					t.Errorf("%s -S INPUT = %q, want our rule", mine, got)
				}
				if got := rules(t, other, "INPUT"); len(got) != 0 {
					t.Errorf("%s -S INPUT = %q, want nothing: the rule went to the wrong variant", other, got)
				}
			}
			if st := mustStatus(t, s); !st.Healthy() {
				t.Errorf("status with variant %s: %+v", tc.variant, st)
			}
			if err := s.Teardown(); err != nil {
				t.Fatal(err)
			}
			if got := rules(t, ipsetstore.Variant(tc.variant).Command(ipsetstore.IPv4), "INPUT"); len(got) != 0 {
				t.Errorf("rules left after Teardown: %q", got)
			}
		})
	}
}
