package ipsetstore

import (
	"fmt"
	"strings"
)

// Status is the kernel side as it is: one SetStatus per family and one
// RuleStatus per chain and family.
type Status struct {
	Sets  []SetStatus
	Rules []RuleStatus
}

// SetStatus describes one set.
type SetStatus struct {
	Name    string
	Family  Family
	Exists  bool
	Entries int
	MaxElem uint32
}

// RuleStatus describes the match rules of one chain and family. Count above
// 1 or a rule not at the top means Ensure has something to fix.
type RuleStatus struct {
	Chain  string
	Family Family
	// ChainExists is false when the chain is missing; the other fields
	// are then zero.
	ChainExists bool
	// Pending is true when the chain is someone else's (DOCKER-USER before
	// Docker starts) and does not exist yet: not a fault, Ensure puts the
	// rule in as soon as it appears. A missing chain the store creates
	// itself (the nftables backend's) is never pending.
	Pending bool
	// Count is how many rules tagged recidivist the chain holds.
	Count int
	// Present is true when the wanted rule is at position 1.
	Present bool
}

// Healthy reports whether every set exists and every chain holds exactly
// the wanted rule at its top. A pending chain counts for neither: there is
// nothing to repair until it exists.
func (s Status) Healthy() bool {
	for _, set := range s.Sets {
		if !set.Exists {
			return false
		}
	}
	for _, r := range s.Rules {
		if !r.Pending && (!r.Present || r.Count != 1) {
			return false
		}
	}
	return true
}

// Repairs says what Ensure had to create or fix, in words fit for a log
// line ("INPUT/inet6").
type Repairs struct {
	SetsCreated  []string
	RulesCreated []string
	RulesFixed   []string
	// Pending lists the chains (as "DOCKER-USER/inet") that do not exist
	// yet, so have no rule: not a repair, and not an error. The rule goes
	// in at the first Ensure after the chain appears.
	Pending []string
	// SetsMissing lists the sets EnsureRules found missing, and so left
	// without rules; not a repair.
	SetsMissing []string
}

// Changed reports whether anything was repaired; pending chains are not
// a change.
func (r Repairs) Changed() bool {
	return len(r.SetsCreated)+len(r.RulesCreated)+len(r.RulesFixed) > 0
}

// String lists the repairs, or is empty when there were none.
func (r Repairs) String() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", what, strings.Join(names, ",")))
		}
	}
	add("sets created", r.SetsCreated)
	add("rules created", r.RulesCreated)
	add("rules fixed", r.RulesFixed)
	return strings.Join(parts, "; ")
}
