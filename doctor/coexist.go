package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"

	"github.com/recidivist/recidivist/ipsetstore"
)

// checkCoexistence checks what the host's other firewall tools do to
// recidivist's rules: the iptables variant that holds the others' rules
// and chains, Docker's nftables backend, and nftables.service's flush.
func (d *Doctor) checkCoexistence(privileged bool) {
	if privileged { // iptables-save needs CAP_NET_ADMIN
		d.checkVariant()
	}
	d.checkNftablesConf()
}

// ourVariant is the iptables variant recidivist's rules go through:
// iptables-variant, or for auto the one plain iptables is.
func (d *Doctor) ourVariant() (ipsetstore.Variant, error) {
	switch v := ipsetstore.Variant(d.cfg.IPTablesVariant); v {
	case ipsetstore.VariantNft, ipsetstore.VariantLegacy:
		return v, nil
	}
	out, err := d.iptablesVersion()
	if err != nil {
		return "", err
	}
	if strings.Contains(out, "(nf_tables)") {
		return ipsetstore.VariantNft, nil
	}
	return ipsetstore.VariantLegacy, nil // "(legacy)", or an iptables older than 1.8 that knows no other
}

func otherVariant(v ipsetstore.Variant) ipsetstore.Variant {
	if v == ipsetstore.VariantNft {
		return ipsetstore.VariantLegacy
	}
	return ipsetstore.VariantNft
}

// checkVariant fails when the iptables variant recidivist does not use
// holds rules (the "iptables-legacy tables present" case), recidivist's own
// rules left there, or a configured chain the variant in use lacks; and
// when a configured DOCKER-USER exists nowhere because Docker runs its
// nftables backend.
func (d *Doctor) checkVariant() {
	if d.cfg.Backend == "nftables" {
		return // no iptables at all
	}
	ours, err := d.ourVariant()
	if err != nil {
		d.note("cannot tell which iptables variant recidivist's rules go through: %v", err)
		return
	}
	other := otherVariant(ours)
	mineText, _, err := d.iptablesSave(ours)
	if err != nil {
		d.note("cannot read the rules of iptables-%s: %v", ours, err)
		return
	}
	mine := parseSave(mineText)
	otherText, installed, err := d.iptablesSave(other)
	if err != nil {
		d.note("cannot read the rules of iptables-%s: %v", other, err)
		return
	}
	theirs := parseSave(otherText)
	before := d.problems
	for _, chain := range d.cfg.Chains {
		if !mine.chains[chain] && theirs.chains[chain] {
			d.problem(fmt.Sprintf("chain %s exists only in iptables-%s, while recidivist's rules go through iptables-%s, where it does not exist: its rule can never go in (the two variants are separate kernel subsystems)", chain, other, ours),
				fmt.Sprintf("set iptables-variant = %q in the config, then sudo systemctl restart recidivist", other))
		}
	}
	if theirs.foreign > 0 {
		d.problem(fmt.Sprintf("iptables-%s holds %d rules while recidivist's go through iptables-%s (the \"iptables-legacy tables present\" case): the host's rules and recidivist's are in separate subsystems, so admins and the tools that flush one do not see the other", other, theirs.foreign, ours),
			fmt.Sprintf("set iptables-variant = %q in the config so that recidivist's rules sit beside them, then sudo systemctl restart recidivist (or move those rules to iptables-%s)", other, ours))
	}
	if theirs.ours > 0 {
		d.problem(fmt.Sprintf("iptables-%s still holds %d recidivist rules from before iptables-variant changed", other, theirs.ours),
			fmt.Sprintf("delete them with iptables-%s -D (iptables-%s -S | grep 'comment recidivist' lists them)", other, other))
	}
	d.checkDockerNftables(mine, theirs)
	if d.problems > before {
		return
	}
	if !installed {
		d.ok("iptables: recidivist's rules go through iptables-%s; iptables-%s is not installed", ours, other)
		return
	}
	d.ok("iptables: recidivist's rules go through iptables-%s; iptables-%s holds no rules", ours, other)
}

// checkDockerNftables fails when DOCKER-USER is configured, exists in
// neither variant, and Docker's nftables backend runs: that backend makes
// no DOCKER-USER, so the chain would stay pending for ever.
func (d *Doctor) checkDockerNftables(mine, theirs savedRules) {
	const chain = "DOCKER-USER"
	if !slices.Contains(d.cfg.Chains, chain) || mine.chains[chain] || theirs.chains[chain] {
		return
	}
	tables, err := d.nftTables()
	if err != nil {
		d.note("cannot list the nftables tables to look for Docker's: %v", err)
		return
	}
	for _, t := range tables {
		if t == "ip docker-bridges" || t == "ip6 docker-bridges" {
			d.problem(fmt.Sprintf("Docker runs its nftables backend (table %s), which creates no DOCKER-USER chain: recidivist's rule for DOCKER-USER can never go in, and published ports bypass INPUT", t),
				`use backend = "nftables" (sudo recidivist migrate --to nftables, then set it in the config): chain DOCKER-USER then hooks forward in recidivist's own table`)
			return
		}
	}
}

// savedRules is what an iptables-save listing holds.
type savedRules struct {
	foreign int             // rules not tagged recidivist, in every table
	ours    int             // rules tagged recidivist
	chains  map[string]bool // chains of the filter table
}

// parseSave reads the output of iptables-save (and ip6tables-save).
func parseSave(text string) savedRules {
	s := savedRules{chains: map[string]bool{}}
	table := ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":") && table == "filter":
			if name, _, ok := strings.Cut(line[1:], " "); ok {
				s.chains[name] = true
			}
		case strings.HasPrefix(line, "-A "):
			if taggedOurs(line) {
				s.ours++
			} else {
				s.foreign++
			}
		}
	}
	return s
}

// taggedOurs reports whether a saved rule carries recidivist's comment.
func taggedOurs(rule string) bool {
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--comment" && strings.Trim(f[i+1], `"`) == ipsetstore.RuleComment {
			return true
		}
	}
	return false
}

// runIptablesVersion runs `iptables --version`.
func (d *Doctor) runIptablesVersion() (string, error) {
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "iptables", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("iptables --version: %w", err)
	}
	return string(out), nil
}

// runIptablesSave runs iptables-V-save and ip6tables-V-save of variant v
// (without -t, which would make the kernel create the table it names);
// installed is false when v's binaries are not.
func (d *Doctor) runIptablesSave(v ipsetstore.Variant) (text string, installed bool, err error) {
	var b strings.Builder
	for _, f := range ipsetstore.Families {
		bin := v.Command(f) + "-save"
		if _, err := d.lookPath(bin); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return "", false, nil
			}
			return "", false, err
		}
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		out, err := exec.CommandContext(ctx, bin).Output()
		cancel()
		if err != nil {
			return "", true, fmt.Errorf("%s: %w", bin, err)
		}
		b.Write(out)
	}
	return b.String(), true, nil
}

// listNftTables lists the nftables tables as "FAMILY NAME".
func listNftTables() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, err
	}
	family := map[nftables.TableFamily]string{
		nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6", nftables.TableFamilyINet: "inet",
		nftables.TableFamilyARP: "arp", nftables.TableFamilyBridge: "bridge", nftables.TableFamilyNetdev: "netdev",
	}
	out := make([]string, 0, len(tables))
	for _, t := range tables {
		out = append(out, family[t.Family]+" "+t.Name)
	}
	return out, nil
}

// checkNftablesConf warns when nftables.service would flush the whole
// ruleset on its reload (and stop): Debian's stock /etc/nftables.conf
// begins with `flush ruleset`, which wipes iptables-nft's tables (our
// rule) and the nftables backend's table with its entries.
func (d *Doctor) checkNftablesConf() {
	what := fmt.Sprintf("recidivist's table inet %s with every entry in it", d.cfg.SetName)
	if d.cfg.Backend != "nftables" {
		v, err := d.ourVariant()
		if err != nil || v == ipsetstore.VariantLegacy {
			return // iptables-legacy rules and ipsets are not nftables'
		}
		what = "recidivist's rule (iptables-nft keeps it in nftables' ip filter table)"
	}
	b, err := os.ReadFile(d.nftablesConf)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.note("cannot read %s: %v", d.nftablesConf, err)
		}
		return
	}
	if !flushesRuleset(string(b)) {
		return
	}
	enabled, err := filepath.Glob(filepath.Join(d.systemdDir, "*.wants", "nftables.service"))
	if err != nil || len(enabled) == 0 {
		return
	}
	d.warn(fmt.Sprintf("%s starts with `flush ruleset` and nftables.service is enabled: a systemctl reload (or stop) of nftables wipes %s, and nothing is blocked until the daemon puts it back by itself at its next reconcile", d.nftablesConf, what),
		"scope the flush to your own table: in place of `flush ruleset` write `table inet filter` then `flush table inet filter` (or `destroy table inet filter`, nft ≥ 1.0.8) before your `table inet filter { … }`")
}

// flushesRuleset reports whether the first statement of an nft script,
// comments and blank lines aside, is `flush ruleset`.
func flushesRuleset(script string) bool {
	for line := range strings.Lines(script) {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if line == "" {
			continue
		}
		return strings.Join(strings.Fields(line), " ") == "flush ruleset"
	}
	return false
}
