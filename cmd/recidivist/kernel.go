package main

import (
	"errors"
	"fmt"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

// openStore returns the kernel side for cfg, or an error that says what to do.
func openStore(cfg *config.Config) (ipsetstore.Store, error) {
	if ok, err := privilege.NetAdmin(); err != nil || !ok {
		return nil, errNoPrivilege(err)
	}
	return newStore(cfg, cfg.Backend)
}

// newStore returns the store of backend ("ipset" or "nftables") for the
// sets and rules cfg names, touching nothing.
func newStore(cfg *config.Config, backend string) (ipsetstore.Store, error) {
	var s ipsetstore.Store
	var err error
	if backend == "nftables" {
		s, err = nftstore.New(storeConfig(cfg))
	} else {
		s, err = ipsetstore.New(storeConfig(cfg))
	}
	if err != nil {
		// config.Load has checked every key by the store's own rules;
		// this is a settings struct built by hand.
		return nil, fmt.Errorf("opening the kernel sets: %w", err)
	}
	return s, nil
}

// errNoPrivilege is the refusal of a kernel change to a process without
// CAP_NET_ADMIN; cause is why the capabilities could not be read, or nil.
func errNoPrivilege(cause error) error {
	if cause != nil {
		return fmt.Errorf("%w: %v — run with sudo, or as a service with CAP_NET_ADMIN (see examples/systemd/recidivist.service)", ipsetstore.ErrNotPermitted, cause)
	}
	return fmt.Errorf("%w: changing ipsets and iptables rules (or nftables) needs CAP_NET_ADMIN — run with sudo, or as a service with CAP_NET_ADMIN (see examples/systemd/recidivist.service)", ipsetstore.ErrNotPermitted)
}

// netAdmin reports whether this process may change the kernel's sets and
// rules; a process whose capabilities cannot be read is taken not to.
func netAdmin() bool {
	ok, err := privilege.NetAdmin()
	return ok && err == nil
}

// storeConfig is the part of cfg that names the kernel objects.
func storeConfig(cfg *config.Config) ipsetstore.Config {
	return ipsetstore.Config{SetName: cfg.SetName, Chains: cfg.Chains, Target: cfg.Target, Ports: cfg.Ports, MaxElem: cfg.MaxElem}
}

// kernelObjects names what backend keeps in the kernel for cfg, for
// messages.
func kernelObjects(cfg *config.Config, backend string) string {
	if backend == "nftables" {
		return fmt.Sprintf("the nftables table inet %s", cfg.SetName)
	}
	return fmt.Sprintf("the ipsets %s and %s6 with their iptables rules", cfg.SetName, cfg.SetName)
}

// explainKernel adds the fix to kernel errors the user can act on.
func explainKernel(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ipsetstore.ErrNotPermitted):
		return fmt.Errorf("%w — run as root or grant CAP_NET_ADMIN", err)
	case errors.Is(err, ipsetstore.ErrNoKernelSupport):
		return fmt.Errorf("%w — the kernel lacks ipset/xt_set support: modprobe ip_set ip_set_hash_net xt_set (backend nftables: modprobe nf_tables)", err)
	case errors.Is(err, ipsetstore.ErrSetFull):
		return fmt.Errorf("%w — raise maxelem in the config and run recidivist teardown && recidivist restore", err)
	case errors.Is(err, ipsetstore.ErrNoSet):
		return fmt.Errorf("%w — run recidivist restore (it creates the sets and rules and loads the mirror)", err)
	}
	return err
}
