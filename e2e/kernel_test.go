package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// setHas reports whether the ipset named set, in namespace ns, holds addr
// as a single-address entry. It reads the set over netlink, as the kernel
// sees it, not through recidivist.
func setHas(ns, set string, addr netip.Addr) (bool, error) {
	members, err := setMembers(ns, set)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m == netip.PrefixFrom(addr, addr.BitLen()) {
			return true, nil
		}
	}
	return false, nil
}

// familySet is the set recidivist keeps one family in: set for IPv4,
// set+"6" for IPv6.
func familySet(set string, six bool) string {
	if six {
		return set + "6"
	}
	return set
}

// inSet reports whether the set of a's family (see familySet) in namespace
// ns holds a; it fails t when the set cannot be read.
func inSet(t *testing.T, ns, set string, a netip.Addr) bool {
	t.Helper()
	ok, err := setHas(ns, familySet(set, a.Is6()), a)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// setMembers lists the entries of the ipset named set in namespace ns.
func setMembers(ns, set string) ([]netip.Prefix, error) { return e2etest.SetMembers(ns, set) }

// chainRules returns the rules ("-A ..." lines of iptables -S, or of
// ip6tables -S for six) of chain in namespace ns, in order.
func chainRules(ns, chain string, six bool) ([]string, error) {
	tool := "iptables"
	if six {
		tool = "ip6tables"
	}
	out, err := exec.Command("ip", inNS(ns, tool, "-w", "-S", chain)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s -S %s in %s: %w: %s", tool, chain, ns, err, out)
	}
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "-A ") {
			rules = append(rules, line)
		}
	}
	return rules, nil
}

// rulesInPlace reports whether both families' INPUT chains in namespace
// ns match on set (set+"6" for IPv6).
func rulesInPlace(ns, set string) (bool, error) {
	for _, six := range []bool{false, true} {
		name := familySet(set, six)
		rules, err := chainRules(ns, "INPUT", six)
		if err != nil {
			return false, err
		}
		if !slices.ContainsFunc(rules, func(r string) bool { return strings.Contains(r, "--match-set "+name+" ") }) {
			return false, nil
		}
	}
	return true, nil
}

// rulesOnTop reports whether each family's INPUT in namespace ns holds
// exactly one rule of set (set+"6" for IPv6), the first of the chain: the
// state a repair ends in. The rule on top alone is not enough: a repair
// inserts the rule on top first and deletes the copy below a moment later.
func rulesOnTop(ns, set string) (bool, error) {
	for _, six := range []bool{false, true} {
		name := familySet(set, six)
		rules, err := chainRules(ns, "INPUT", six)
		if err != nil {
			return false, err
		}
		var ours []int
		for i, r := range rules {
			if strings.Contains(r, "--match-set "+name+" ") {
				ours = append(ours, i)
			}
		}
		if len(ours) != 1 || ours[0] != 0 {
			return false, nil
		}
	}
	return true, nil
}

// checkRules fails t unless namespace ns has exactly one rule matching set
// in iptables' INPUT and one matching set+"6" in ip6tables' INPUT, of the
// shape PRODUCT.md fixes and, when first, each the first of its chain
// (recidivist inserts it at the top; a fail2ban started later inserts its
// own jumps above it).
func checkRules(t *testing.T, ns, set string, first bool) {
	t.Helper()
	for _, six := range []bool{false, true} {
		name := familySet(set, six)
		rules, err := chainRules(ns, "INPUT", six)
		if err != nil {
			t.Fatal(err)
		}
		want := "-A INPUT -m set --match-set " + name + " src -m comment --comment recidivist -j DROP"
		var ours []int
		for i, r := range rules {
			if strings.Contains(r, "--match-set "+name+" ") {
				ours = append(ours, i)
			}
		}
		if len(ours) != 1 || rules[ours[0]] != want || (first && ours[0] != 0) {
			t.Errorf("INPUT in %s (six=%v): %q, want exactly one rule on %s (first: %v): %q", ns, six, rules, name, first, want)
		}
	}
}
