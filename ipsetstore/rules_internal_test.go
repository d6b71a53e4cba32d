package ipsetstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fakeTable is one family's filter table with one chain, for the rule
// logic without root. before, if set, runs once before the first deletion
// (or read of one rule): another program (fail2ban) changing the chain
// between a listing and the deletions decided from it.
type fakeTable struct {
	chain  string
	rules  []string // specs, top first
	before func(*fakeTable)
}

func (f *fakeTable) ChainExists(_, chain string) (bool, error) { return chain == f.chain, nil }

func (f *fakeTable) List(_, chain string) ([]string, error) {
	out := []string{"-P " + chain + " ACCEPT"}
	for _, r := range f.rules {
		out = append(out, "-A "+chain+" "+r)
	}
	return out, nil
}

func (f *fakeTable) Insert(_, _ string, pos int, spec ...string) error {
	if pos < 1 || pos > len(f.rules)+1 {
		return fmt.Errorf("index of insertion %d too big", pos)
	}
	f.rules = slices.Insert(f.rules, pos-1, strings.Join(spec, " "))
	return nil
}

func (f *fakeTable) interfere() {
	if f.before != nil {
		b := f.before
		f.before = nil
		b(f)
	}
}

func (f *fakeTable) Delete(_, _ string, spec ...string) error {
	f.interfere()
	i := slices.Index(f.rules, strings.Join(spec, " "))
	if i < 0 {
		return fmt.Errorf("bad rule (does a matching rule exist in that chain?): %q", spec)
	}
	f.rules = slices.Delete(f.rules, i, i+1)
	return nil
}

func (f *fakeTable) DeleteById(_, _ string, pos int) error {
	f.interfere()
	if pos < 1 || pos > len(f.rules) {
		return fmt.Errorf("index of deletion %d too big", pos)
	}
	f.rules = slices.Delete(f.rules, pos-1, pos)
	return nil
}

func (f *fakeTable) ListById(_, chain string, pos int) (string, error) {
	f.interfere()
	if pos < 1 || pos > len(f.rules) {
		return "", fmt.Errorf("index of rule %d too big: %w", pos, errNoRule)
	}
	return "-A " + chain + " " + f.rules[pos-1], nil
}

func TestEnsureRule_leaves_one_rule_on_top_and_every_other_rule_whatever_fail2ban_inserts_meanwhile(t *testing.T) {
	const (
		stale   = "-m set --match-set recidivist src -m comment --comment recidivist -j REJECT --reject-with icmp-port-unreachable"
		sshd    = "-p tcp -m multiport --dports 22 -j f2b-sshd"
		recidiv = "-p tcp -j f2b-recidive"
	)
	insertJump := func(f *fakeTable) { f.rules = slices.Insert(f.rules, 0, recidiv) } // fail2ban's actionstart: -I chain 1
	s, err := New(Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(s.ruleSpec(IPv4), " ")
	for _, tc := range []struct {
		name   string
		rules  []string
		before func(*fakeTable)
		after  []string
	}{
		{"a stale rule of an older config is replaced", []string{stale, sshd}, nil, []string{want, sshd}},
		{"a stale rule is deleted, not the rule fail2ban's jump pushed into its place",
			[]string{stale, sshd}, insertJump, []string{recidiv, want, sshd}},
		{"a second copy of the rule is deleted, the top one stays", []string{want, sshd, want}, nil, []string{want, sshd}},
		{"a second copy is deleted, not the fail2ban jump pushed into its place",
			[]string{want, sshd, want}, insertJump, []string{recidiv, want, sshd}},
		{"copies and stale rules below a fail2ban jump leave one rule on top",
			[]string{sshd, want, stale, want}, insertJump, []string{recidiv, want, sshd}},
		{"a copy another process deleted between the listing and the deletion is not an error",
			[]string{want, sshd, want}, func(f *fakeTable) { f.rules = f.rules[:len(f.rules)-1] }, []string{want, sshd}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			fake := &fakeTable{chain: "INPUT", rules: slices.Clone(tc.rules), before: tc.before}
			s.ipt[IPv4] = fake
			if err := s.ensureRule("INPUT", IPv4, &Repairs{}); err != nil {
				t.Fatalf("ensureRule: %v", err)
			}
			if !slices.Equal(fake.rules, tc.after) {
				t.Errorf("chain after ensureRule:\n  %s\nwant\n  %s", strings.Join(fake.rules, "\n  "), strings.Join(tc.after, "\n  "))
			}
		})
	}
}
