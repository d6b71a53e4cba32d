// Package host opens the objects a configuration names on this host: the
// mirror in the state directory, read under the configured refusal policy,
// and the kernel store of a backend. Commands and the doctor open them here,
// so that each sees the same entries in force and the same sets as the
// daemon. It reads and changes nothing itself: the callers do, through the
// objects it returns.
package host

import (
	"fmt"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
	"github.com/recidivist/recidivist/statedir"
)

// Mirror returns the mirror of cfg, its lines checked against the refusal
// policy of cfg (the ignore list): every command sees the same entries in
// force as the daemon.
func Mirror(cfg *config.Config) *blocklist.File {
	f := blocklist.Open(statedir.Mirror(cfg.StateDir))
	f.SetPolicy(blocklist.Policy{Ignore: cfg.Ignore})
	return f
}

// Store returns the store of backend ("ipset" or "nftables") for the sets
// and rules cfg names, touching nothing.
func Store(cfg *config.Config, backend string) (ipsetstore.Store, error) {
	var s ipsetstore.Store
	var err error
	if backend == "nftables" {
		s, err = nftstore.New(StoreConfig(cfg))
	} else {
		s, err = ipsetstore.New(StoreConfig(cfg))
	}
	if err != nil {
		// config.Load has checked every key by the store's own rules;
		// this is a settings struct built by hand.
		return nil, fmt.Errorf("opening the kernel sets: %w", err)
	}
	return s, nil
}

// StoreConfig is the part of cfg that names the kernel objects.
func StoreConfig(cfg *config.Config) ipsetstore.Config {
	return ipsetstore.Config{SetName: cfg.SetName, Chains: cfg.Chains, Target: cfg.Target, Ports: cfg.Ports, MaxElem: cfg.MaxElem, Variant: ipsetstore.Variant(cfg.IPTablesVariant)}
}
