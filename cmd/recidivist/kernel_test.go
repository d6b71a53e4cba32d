package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

func TestExplainKernel_gives_a_full_sets_fix_once(t *testing.T) {
	s, err := ipsettest.New(ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ipsetstore.Entry{Prefix: netip.MustParsePrefix("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	err = s.Add(ipsetstore.Entry{Prefix: netip.MustParsePrefix("192.0.2.2/32")})
	msg := explainKernel(err).Error()
	if n := strings.Count(msg, "raise maxelem"); n != 1 {
		t.Errorf("the explained full-set error gives its fix %d times, want once: %q", n, msg)
	}
	if !strings.Contains(msg, "recidivist restore") || !strings.Contains(msg, "maxelem 1") {
		t.Errorf("the explained full-set error %q does not name maxelem and the command that applies it", msg)
	}
}

func TestExplainKernel_says_once_how_to_bring_back_a_missing_set(t *testing.T) {
	s, err := ipsettest.New(ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 16})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Add(ipsetstore.Entry{Prefix: netip.MustParsePrefix("192.0.2.1/32")}) // no Ensure: no sets
	msg := explainKernel(err).Error()
	if n := strings.Count(msg, "recidivist restore"); n != 1 {
		t.Errorf("the explained missing-set error names its fix %d times, want once: %q", n, msg)
	}
}
