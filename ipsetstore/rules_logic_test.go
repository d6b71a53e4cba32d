package ipsetstore

import (
	"slices"
	"strings"
	"testing"
)

// The rule logic on a fake chain, without root: what ensureRule,
// removeRules and ruleStatus leave and report for each shape an
// administrator or fail2ban can leave a chain in.

const (
	f2bSSHD     = "-p tcp -m multiport --dports 22 -j f2b-sshd"
	f2bRecidive = "-p tcp -j f2b-recidive"
	foreign     = "-m set --match-set recidivist src -m comment --comment other -j DROP"
	accept22    = "-p tcp -m tcp --dport 22 -j ACCEPT"
	staleOurs   = "-m set --match-set recidivist src -m comment --comment recidivist -j REJECT --reject-with icmp-port-unreachable"
)

func ruleTestStore(t *testing.T) (*NetlinkStore, string) {
	t.Helper()
	s, err := New(Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.Join(s.ruleSpec(IPv4), " ")
}

func TestEnsureRule_puts_the_rule_on_top_and_reports_what_it_changed(t *testing.T) {
	s, want := ruleTestStore(t)
	for _, tc := range []struct {
		name           string
		rules, after   []string
		created, fixed bool
	}{
		{"an empty chain gets the rule and reports it created", nil, []string{want}, true, false},
		{"a missing rule is inserted above fail2ban's jumps and the rules already there",
			[]string{f2bSSHD, accept22}, []string{want, f2bSSHD, accept22}, true, false},
		{"a rule buried below fail2ban's jumps moves to the top",
			[]string{f2bRecidive, f2bSSHD, want, accept22}, []string{want, f2bRecidive, f2bSSHD, accept22}, false, true},
		{"a rule already on top, alone of its kind, is left as it is",
			[]string{want, f2bSSHD}, []string{want, f2bSSHD}, false, false},
		{"duplicate rules below the top one are deleted",
			[]string{want, want, f2bSSHD, want}, []string{want, f2bSSHD}, false, true},
		{"duplicate rules all buried leave one on top",
			[]string{f2bSSHD, want, accept22, want}, []string{want, f2bSSHD, accept22}, false, true},
		{"a stale rule of ours buried below a jump is replaced",
			[]string{f2bSSHD, staleOurs}, []string{want, f2bSSHD}, false, true},
		{"foreign rules, even on our set, are untouched",
			[]string{foreign, f2bSSHD, accept22}, []string{want, foreign, f2bSSHD, accept22}, true, false},
		{"foreign rules stay in place while ours are repaired around them",
			[]string{foreign, want, accept22, staleOurs}, []string{want, foreign, accept22}, false, true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			fake := &fakeTable{chain: "INPUT", rules: slices.Clone(tc.rules)}
			s.ipt[IPv4] = fake
			var r Repairs
			if err := s.ensureRule("INPUT", IPv4, &r); err != nil {
				t.Fatalf("ensureRule: %v", err)
			}
			if !slices.Equal(fake.rules, tc.after) {
				t.Errorf("chain after ensureRule:\n  %s\nwant\n  %s", strings.Join(fake.rules, "\n  "), strings.Join(tc.after, "\n  "))
			}
			if got := len(r.RulesCreated) == 1; got != tc.created {
				t.Errorf("RulesCreated = %v, want created %v", r.RulesCreated, tc.created)
			}
			if got := len(r.RulesFixed) == 1; got != tc.fixed {
				t.Errorf("RulesFixed = %v, want fixed %v", r.RulesFixed, tc.fixed)
			}
			st, err := s.ruleStatus("INPUT", IPv4)
			if err != nil {
				t.Fatal(err)
			}
			if !st.ChainExists || !st.Present || st.Count != 1 {
				t.Errorf("ruleStatus after ensureRule = %+v, want the chain with one rule of ours, on top", st)
			}
		})
	}
}

func TestEnsureRule_leaves_a_missing_chain_pending_and_puts_the_rule_in_once_it_appears(t *testing.T) {
	s, want := ruleTestStore(t)
	fake := &fakeTable{chain: "INPUT"} // DOCKER-USER before Docker starts
	s.ipt[IPv4] = fake
	var r Repairs
	if err := s.ensureRule("DOCKER-USER", IPv4, &r); err != nil {
		t.Fatalf("ensureRule on a chain that does not exist yet: %v, want no error", err)
	}
	if !slices.Equal(r.Pending, []string{"DOCKER-USER/inet"}) || r.Changed() {
		t.Errorf("repairs with the chain missing = %+v, want DOCKER-USER/inet pending and nothing changed", r)
	}
	st, err := s.ruleStatus("DOCKER-USER", IPv4)
	if err != nil {
		t.Fatal(err)
	}
	if st.ChainExists || !st.Pending || st.Count != 0 {
		t.Errorf("ruleStatus of the missing chain = %+v, want pending", st)
	}

	const dockerReturn = "-j RETURN"
	fake.chain, fake.rules = "DOCKER-USER", []string{dockerReturn} // Docker started
	r = Repairs{}
	if err := s.ensureRule("DOCKER-USER", IPv4, &r); err != nil {
		t.Fatalf("ensureRule once the chain exists: %v", err)
	}
	if !slices.Equal(fake.rules, []string{want, dockerReturn}) {
		t.Errorf("DOCKER-USER after the chain appeared: %q, want our rule above Docker's RETURN", fake.rules)
	}
	if len(r.Pending) != 0 || !slices.Equal(r.RulesCreated, []string{"DOCKER-USER/inet"}) {
		t.Errorf("repairs once the chain appeared = %+v, want the rule created and nothing pending", r)
	}
	if st, err := s.ruleStatus("DOCKER-USER", IPv4); err != nil || st.Pending || !st.Present {
		t.Errorf("ruleStatus once the chain appeared = %+v, %v, want present, not pending", st, err)
	}
}

func TestStatus_Healthy_does_not_count_a_pending_chain_against_the_rules_in_force(t *testing.T) {
	sets := []SetStatus{{Name: "recidivist", Family: IPv4, Exists: true}, {Name: "recidivist6", Family: IPv6, Exists: true}}
	input := RuleStatus{Chain: "INPUT", Family: IPv4, ChainExists: true, Count: 1, Present: true}
	pending := RuleStatus{Chain: "DOCKER-USER", Family: IPv4, Pending: true}
	missing := RuleStatus{Chain: "input", Family: IPv4} // a chain of our own (nftables) gone
	for _, tc := range []struct {
		name  string
		rules []RuleStatus
		want  bool
	}{
		{"a pending chain beside a rule in force is healthy", []RuleStatus{input, pending}, true},
		{"a chain of our own that is missing is not", []RuleStatus{input, missing}, false},
		{"an existing chain without the rule is not", []RuleStatus{input, {Chain: "FORWARD", Family: IPv4, ChainExists: true}}, false},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			if got := (Status{Sets: sets, Rules: tc.rules}).Healthy(); got != tc.want {
				t.Errorf("Healthy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRuleStatus_reports_what_the_chain_holds(t *testing.T) {
	s, want := ruleTestStore(t)
	for _, tc := range []struct {
		name    string
		rules   []string
		present bool
		count   int
	}{
		{"no rule of ours", []string{f2bSSHD, foreign}, false, 0},
		{"the rule on top", []string{want, f2bSSHD}, true, 1},
		{"the rule buried below a jump is not in force first", []string{f2bSSHD, want}, false, 1},
		{"a stale rule on top is not the rule", []string{staleOurs}, false, 1},
		{"duplicates are counted", []string{want, f2bSSHD, want}, true, 2},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			s.ipt[IPv4] = &fakeTable{chain: "INPUT", rules: slices.Clone(tc.rules)}
			st, err := s.ruleStatus("INPUT", IPv4)
			if err != nil {
				t.Fatal(err)
			}
			if !st.ChainExists || st.Present != tc.present || st.Count != tc.count {
				t.Errorf("ruleStatus = %+v, want present %v count %d", st, tc.present, tc.count)
			}
		})
	}
}

func TestRemoveRules_deletes_every_rule_of_ours_and_nothing_else(t *testing.T) {
	s, want := ruleTestStore(t)
	for _, tc := range []struct {
		name         string
		rules, after []string
		before       func(*fakeTable)
	}{
		{"ours go, foreign rules and fail2ban's jumps stay",
			[]string{want, foreign, f2bSSHD, staleOurs, accept22}, []string{foreign, f2bSSHD, accept22}, nil},
		{"a chain without rules of ours is unchanged", []string{f2bSSHD, foreign}, []string{f2bSSHD, foreign}, nil},
		{"a jump fail2ban inserts between the listing and the deletion stays",
			[]string{want, f2bSSHD, staleOurs}, []string{f2bRecidive, f2bSSHD},
			func(f *fakeTable) { f.rules = slices.Insert(f.rules, 0, f2bRecidive) }},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			fake := &fakeTable{chain: "INPUT", rules: slices.Clone(tc.rules), before: tc.before}
			s.ipt[IPv4] = fake
			if err := s.removeRules("INPUT", IPv4); err != nil {
				t.Fatalf("removeRules: %v", err)
			}
			if !slices.Equal(fake.rules, tc.after) {
				t.Errorf("chain after removeRules:\n  %s\nwant\n  %s", strings.Join(fake.rules, "\n  "), strings.Join(tc.after, "\n  "))
			}
		})
	}
}

func TestRemoveRules_on_a_missing_chain_does_nothing(t *testing.T) {
	s, _ := ruleTestStore(t)
	s.ipt[IPv4] = &fakeTable{chain: "INPUT"}
	if err := s.removeRules("DOCKER-USER", IPv4); err != nil {
		t.Fatalf("removeRules on a missing chain: %v", err)
	}
}
