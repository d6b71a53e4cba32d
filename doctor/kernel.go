package doctor

import (
	"errors"
	"fmt"

	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
)

// checkPrivilege reports whether CAP_NET_ADMIN is held; without it the
// kernel checks are skipped.
func (d *Doctor) checkPrivilege() bool {
	caps, err := d.capEff()
	if err != nil {
		d.problem(fmt.Sprintf("cannot read this process's capabilities: %v", err), "run recidivist check as root")
		return false
	}
	if !privilege.HasNetAdmin(caps) {
		d.problem("no privilege to change ipsets and iptables rules (not root, no CAP_NET_ADMIN): the kernel checks were skipped",
			"run as root (sudo recidivist check); the service gets CAP_NET_ADMIN from examples/systemd/recidivist.service")
		return false
	}
	d.ok("privilege: CAP_NET_ADMIN held")
	return true
}

// checkIptables reports whether the binaries the ipset backend runs for its
// rules are installed.
func (d *Doctor) checkIptables() bool {
	if d.cfg.Backend == "nftables" {
		return true // the nftables backend speaks netlink; no binary needed
	}
	found := true
	variant := ipsetstore.Variant(d.cfg.IPTablesVariant)
	for _, bin := range []string{variant.Command(ipsetstore.IPv4), variant.Command(ipsetstore.IPv6)} {
		p, err := d.lookPath(bin)
		if err != nil {
			found = false
			d.problem(bin+" is not installed (not on PATH): the match rules cannot be made", "apt-get install iptables")
			continue
		}
		d.ok("%s: %s", bin, p)
	}
	return found
}

// checkKernel checks the backend's kernel support, both sets and one match
// rule at the top of each chain, then the drift when the sets exist.
func (d *Doctor) checkKernel(haveIptables bool) {
	store, err := d.store()
	if err != nil {
		d.problem(fmt.Sprintf("the set and chain settings are invalid: %v", err), "fix set-name, chain, target or ports in the config")
		return
	}
	st, err := store.Status()
	switch {
	case errors.Is(err, ipsetstore.ErrNoKernelSupport) && !haveIptables:
		return // already explained: no iptables
	case errors.Is(err, ipsetstore.ErrNoKernelSupport):
		d.problem(fmt.Sprintf("no kernel ipset support: %v", err),
			"load the modules (modprobe ip_set ip_set_hash_net xt_set) or use a kernel built with CONFIG_IP_SET and CONFIG_NETFILTER_XT_SET")
		return
	case errors.Is(err, ipsetstore.ErrNotPermitted):
		d.problem(fmt.Sprintf("the kernel refused to show the sets: %v", err), "run as root or with CAP_NET_ADMIN")
		return
	case err != nil:
		d.problem(fmt.Sprintf("reading the sets and rules: %v", err), "run sudo recidivist restore and read its error")
		return
	}
	d.ok("kernel: %s support present", d.cfg.Backend)
	setsThere := true
	for _, s := range st.Sets {
		if !s.Exists {
			setsThere = false
			d.problem(fmt.Sprintf("set %s (%s) does not exist: nothing is blocked for that family", s.Name, s.Family),
				"sudo recidivist restore (at boot recidivist-restore.service does it; the daemon does it at start)")
			continue
		}
		d.ok("set %s (%s): %d entries of maxelem %d", s.Name, s.Family, s.Entries, s.MaxElem)
	}
	for _, r := range st.Rules {
		where := r.Chain + "/" + r.Family.String()
		switch {
		case r.Pending:
			d.warn(fmt.Sprintf("chain %s does not exist yet (%s): recidivist puts its rule in as soon as it appears; until then that chain's traffic is not matched", r.Chain, r.Family),
				"start what creates it (Docker creates DOCKER-USER when it starts), or remove "+r.Chain+" from chain in the config")
		case !r.ChainExists:
			d.problem(fmt.Sprintf("chain %s does not exist (%s)", r.Chain, r.Family),
				"remove "+r.Chain+" from chain in the config, or start what creates it (Docker creates DOCKER-USER)")
		case r.Count == 0:
			d.problem(fmt.Sprintf("no recidivist match rule in %s: the sets block nothing there", where), "sudo recidivist restore")
		case r.Count > 1:
			d.problem(fmt.Sprintf("%d recidivist rules in %s where one belongs", r.Count, where), "sudo recidivist restore (it keeps exactly one, at the top)")
		case !r.Present:
			d.problem(fmt.Sprintf("the recidivist rule in %s is not at the top: rules above it may accept offenders", where), "sudo recidivist restore (it moves the rule to the top)")
		default:
			d.ok("rule %s at the top", where)
		}
	}
	if setsThere {
		d.checkDrift(store)
	}
}
