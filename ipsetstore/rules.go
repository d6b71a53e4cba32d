package ipsetstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

const table = "filter"

// ruleSpec is the one match rule of family f, in the order iptables -S
// prints it back, so that a listed rule can be compared as text.
func (s *NetlinkStore) ruleSpec(f Family) []string {
	proto, ports, _ := parsePorts(s.cfg.Ports) // validated by New
	var spec []string
	if proto != "" {
		spec = append(spec, "-p", proto)
	}
	spec = append(spec, "-m", "set", "--match-set", s.cfg.Set(f), "src")
	if len(ports) > 0 {
		spec = append(spec, "-m", "multiport", "--dports", strings.Join(ports, ","))
	}
	spec = append(spec, "-m", "comment", "--comment", RuleComment, "-j", s.cfg.Target)
	if s.cfg.Target == "REJECT" {
		// Spelled out because iptables -S always prints it.
		if f == IPv6 {
			spec = append(spec, "--reject-with", "icmp6-port-unreachable")
		} else {
			spec = append(spec, "--reject-with", "icmp-port-unreachable")
		}
	}
	return spec
}

// ourRule is one rule tagged recidivist, with its 1-based position.
type ourRule struct {
	pos  int
	spec string
}

// ourRules lists the rules of chain tagged recidivist; exists is false when
// the chain is missing. Callers hold s.mu.
func (s *NetlinkStore) ourRules(chain string, f Family) (ipt ruleTable, rules []ourRule, exists bool, err error) {
	ipt, err = s.iptablesFor(f)
	if err != nil {
		return nil, nil, false, err
	}
	exists, err = ipt.ChainExists(table, chain)
	if err != nil {
		return nil, nil, false, fmt.Errorf("looking for chain %s (%s): %w", chain, iptablesName(f), iptErr(err))
	}
	if !exists {
		return ipt, nil, false, nil
	}
	lines, err := ipt.List(table, chain)
	if err != nil {
		return nil, nil, false, fmt.Errorf("listing chain %s (%s): %w", chain, iptablesName(f), iptErr(err))
	}
	pos := 0
	prefix := "-A " + chain + " "
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue // the policy line
		}
		pos++
		spec := strings.TrimPrefix(l, prefix)
		if isOurs(spec) {
			rules = append(rules, ourRule{pos: pos, spec: spec})
		}
	}
	return ipt, rules, true, nil
}

// isOurs reports whether a listed rule carries the recidivist comment.
func isOurs(spec string) bool {
	f := strings.Fields(spec)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--comment" && strings.Trim(f[i+1], `"`) == RuleComment {
			return true
		}
	}
	return false
}

// ensureRule leaves exactly the wanted rule at the top of chain. It inserts
// the right rule before removing wrong ones, so that the chain is never
// without it. A chain that does not exist is someone else's not created
// yet (DOCKER-USER before Docker starts): it is reported pending, and the
// first call after it appears inserts the rule. Callers hold s.mu.
func (s *NetlinkStore) ensureRule(chain string, f Family, r *Repairs) error {
	ipt, rules, exists, err := s.ourRules(chain, f)
	if err != nil {
		return err
	}
	where := chain + "/" + f.String()
	if !exists {
		r.Pending = append(r.Pending, where)
		return nil
	}
	want := s.ruleSpec(f)
	wantText := strings.Join(want, " ")
	if len(rules) == 1 && rules[0].pos == 1 && rules[0].spec == wantText {
		return nil
	}
	stale := rules
	if len(rules) > 0 && rules[0].pos == 1 && rules[0].spec == wantText {
		stale = rules[1:]
	} else if err := ipt.Insert(table, chain, 1, want...); err != nil {
		return fmt.Errorf("inserting the rule in %s: %w", where, iptErr(err))
	}
	// Other rules of ours go by their spec; copies of the wanted one (the
	// top one stays) cannot, iptables -D deleting the first match.
	others := slices.DeleteFunc(slices.Clone(stale), func(o ourRule) bool { return o.spec == wantText })
	if err := deleteRules(ipt, chain, others); err != nil {
		return fmt.Errorf("removing stale rules from %s: %w", where, err)
	}
	if len(others) < len(stale) {
		if err := s.deleteCopies(chain, f, wantText); err != nil {
			return fmt.Errorf("removing copies of the rule from %s: %w", where, err)
		}
	}
	if len(rules) == 0 {
		r.RulesCreated = append(r.RulesCreated, where)
	} else {
		r.RulesFixed = append(r.RulesFixed, where)
	}
	return nil
}

// deleteRules deletes rules by their spec: iptables -D deletes the first
// rule equal to it wherever it is now. Positions of a listing do not hold:
// fail2ban inserts its jumps at the top of the chain at any time.
func deleteRules(ipt ruleTable, chain string, rules []ourRule) error {
	for _, r := range rules {
		if err := ipt.Delete(table, chain, specArgs(r.spec)...); err != nil {
			return fmt.Errorf("deleting rule %q: %w", r.spec, iptErr(err))
		}
	}
	return nil
}

// specArgs splits a rule as iptables -S lists it into the arguments that
// spell it. Rules of ours quote nothing with spaces (set names, ports,
// targets, the comment), so splitting on blanks and dropping the quotes
// iptables may put around the comment is exact.
func specArgs(spec string) []string {
	f := strings.Fields(spec)
	for i := range f {
		f[i] = strings.Trim(f[i], `"`)
	}
	return f
}

// copyTries bounds how often deleteCopies lists the chain again after it
// found a listed position holding another rule.
const copyTries = 5

// deleteCopies deletes every copy of the rule want but the topmost one. A copy can only be deleted by position (iptables -D by spec
// would delete the top one), so each position is read back just before
// its deletion and the chain is listed again when it holds another rule:
// only an insertion in the instant between the two commands could still
// shift it. Callers hold s.mu.
func (s *NetlinkStore) deleteCopies(chain string, f Family, want string) error {
	for range copyTries {
		ipt, rules, _, err := s.ourRules(chain, f)
		if err != nil {
			return err
		}
		var copies []int // of the rule, the first (topmost) one excluded
		for _, r := range rules {
			if r.spec == want {
				copies = append(copies, r.pos)
			}
		}
		copies = copies[min(1, len(copies)):]
		if len(copies) == 0 {
			return nil
		}
		moved := false
		for i := len(copies) - 1; i >= 0 && !moved; i-- { // the last first: the positions above hold
			got, err := ipt.ListById(table, chain, copies[i])
			if err != nil && !errors.Is(err, errNoRule) {
				return fmt.Errorf("reading rule %d: %w", copies[i], iptErr(err))
			}
			if err != nil || got != "-A "+chain+" "+want {
				moved = true // the chain changed since the listing
				continue
			}
			if err := ipt.DeleteById(table, chain, copies[i]); err != nil {
				return fmt.Errorf("deleting copy %d of the rule: %w", copies[i], iptErr(err))
			}
		}
		if !moved {
			return nil
		}
	}
	return fmt.Errorf("the chain kept changing while copies of the rule were deleted; the next reconcile tries again")
}

// ruleStatus reports the rules of chain. Callers hold s.mu.
func (s *NetlinkStore) ruleStatus(chain string, f Family) (RuleStatus, error) {
	rs := RuleStatus{Chain: chain, Family: f}
	_, rules, exists, err := s.ourRules(chain, f)
	if err != nil || !exists {
		rs.Pending = err == nil
		return rs, err
	}
	rs.ChainExists = true
	rs.Count = len(rules)
	rs.Present = len(rules) > 0 && rules[0].pos == 1 && rules[0].spec == strings.Join(s.ruleSpec(f), " ")
	return rs, nil
}

// removeRules deletes every rule of chain tagged recidivist; a missing
// chain has none. Callers hold s.mu.
func (s *NetlinkStore) removeRules(chain string, f Family) error {
	ipt, rules, exists, err := s.ourRules(chain, f)
	if err != nil || !exists {
		return err
	}
	if err := deleteRules(ipt, chain, rules); err != nil {
		return fmt.Errorf("removing the rules from %s/%s: %w", chain, f, err)
	}
	return nil
}

// iptErr marks iptables' "you must be root" as ErrNotPermitted. iptables
// reports it only as text with exit status 4 (resource problem).
func iptErr(err error) error {
	var ie *iptables.Error
	if errors.As(err, &ie) && ie.ExitStatus() == 4 && strings.Contains(ie.Error(), "Permission denied") {
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	}
	return err
}
