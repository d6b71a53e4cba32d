package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
)

// openStore returns the kernel side for cfg, or an error that says what to do.
func openStore(cfg *config.Config) (*ipsetstore.NetlinkStore, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: changing ipsets and iptables rules needs root — run with sudo, or as a service with CAP_NET_ADMIN (see examples/systemd/recidivist.service)", ipsetstore.ErrNotPermitted)
	}
	s, err := ipsetstore.New(storeConfig(cfg))
	if err != nil {
		return nil, &config.Error{Key: "set-name/chain/target/ports", Value: cfg.SetName, Allowed: err.Error()}
	}
	return s, nil
}

// storeConfig is the part of cfg that names the kernel objects.
func storeConfig(cfg *config.Config) ipsetstore.Config {
	return ipsetstore.Config{SetName: cfg.SetName, Chains: cfg.Chains, Target: cfg.Target, Ports: cfg.Ports, MaxElem: cfg.MaxElem}
}

// explainKernel adds the fix to kernel errors the user can act on.
func explainKernel(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ipsetstore.ErrNotPermitted):
		return fmt.Errorf("%w — run as root or grant CAP_NET_ADMIN", err)
	case errors.Is(err, ipsetstore.ErrNoKernelSupport):
		return fmt.Errorf("%w — the kernel lacks ipset/xt_set support: modprobe ip_set ip_set_hash_net xt_set", err)
	case errors.Is(err, ipsetstore.ErrSetFull):
		return fmt.Errorf("%w — raise maxelem in the config and run recidivist teardown && recidivist restore", err)
	}
	return err
}
