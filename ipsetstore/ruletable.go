package ipsetstore

import "github.com/coreos/go-iptables/iptables"

// ruleTable is what the rule logic needs of go-iptables, for one family:
// production passes *iptables.IPTables, the rule tests a fake chain.
type ruleTable interface {
	ChainExists(table, chain string) (bool, error)
	List(table, chain string) ([]string, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	DeleteById(table, chain string, pos int) error
	ListById(table, chain string, pos int) (string, error)
}

var _ ruleTable = (*iptables.IPTables)(nil)
