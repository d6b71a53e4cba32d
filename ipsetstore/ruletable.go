package ipsetstore

import (
	"errors"
	"fmt"

	"github.com/coreos/go-iptables/iptables"
)

// ruleTable is what the rule logic needs of go-iptables, for one family:
// production passes an iptablesTable, the rule tests a fake chain.
type ruleTable interface {
	ChainExists(table, chain string) (bool, error)
	List(table, chain string) ([]string, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	DeleteById(table, chain string, pos int) error
	// ListById returns the rule at pos (1 = top) as `iptables -S` prints
	// it, or an error matching errNoRule when the chain has no rule there.
	ListById(table, chain string, pos int) (string, error)
}

// errNoRule: the chain holds no rule at the position asked for (it shrank
// since it was listed).
var errNoRule = errors.New("no rule at that position")

// iptablesTable is go-iptables with a ListById that cannot panic: for a
// position past the chain's end iptables-nft prints nothing and exits 0,
// and go-iptables' own ListById then indexes an empty list.
type iptablesTable struct{ *iptables.IPTables }

var _ ruleTable = iptablesTable{}

// ListById reads the chain (its first line is its -P or -N line) and
// returns the rule at pos.
func (t iptablesTable) ListById(table, chain string, pos int) (string, error) {
	lines, err := t.List(table, chain)
	if err != nil {
		return "", err
	}
	if pos < 1 || pos >= len(lines) {
		return "", fmt.Errorf("chain %s has %d rules, none at %d: %w", chain, max(len(lines)-1, 0), pos, errNoRule)
	}
	return lines[pos], nil
}
