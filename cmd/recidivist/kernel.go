package main

import (
	"errors"
	"fmt"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
)

// openStore returns the kernel side for cfg, or an error that says what to do.
func openStore(cfg *config.Config) (ipsetstore.Store, error) {
	if ok, err := privilege.NetAdmin(); err != nil || !ok {
		return nil, errNoPrivilege(err)
	}
	return host.Store(cfg, cfg.Backend)
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
