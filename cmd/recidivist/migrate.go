package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/sample"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

func migrateCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "migrate",
		Usage: "move the blocks to the other backend (ipset or nftables) and remove the old one",
		Description: "migrate builds the sets and rules of the backend given with --to and loads the mirror into\n" +
			"them (one atomic transaction), checks that every entry of the mirror is in force there and\n" +
			"that the rules are in place, and only then removes the other backend's rules and sets.\n" +
			"Blocks stay in force throughout: until the new backend is verified, the old one still\n" +
			"holds them. Running it again changes nothing; after a crash halfway it finishes the job.\n" +
			"Stop the daemon first, and set backend in the config before starting it again, or it\n" +
			"builds the old backend back.\n\n" +
			"Examples:\n" +
			"   systemctl stop recidivist && recidivist migrate --to nftables\n" +
			"   recidivist migrate --to ipset",
		Flags: []cli.Flag{&cli.StringFlag{Name: "to", Usage: "the backend to move to: nftables or ipset", Required: true}},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			to := c.String("to")
			from := map[string]string{"nftables": "ipset", "ipset": "nftables"}[to]
			if from == "" {
				return &config.Error{Key: "--to", Value: to, Allowed: "nftables or ipset"}
			}
			if to == "nftables" {
				if err := nftChains(cfg); err != nil {
					return err
				}
			}
			if h, held, err := statedir.ReadHolder(cfg.StateDir); err == nil && held {
				return fmt.Errorf("the daemon (PID %d) runs on %s and would rebuild the backend it runs with: stop it first (systemctl stop recidivist)", h.PID, cfg.StateDir)
			}
			if _, err := openStore(cfg); err != nil { // the privilege check
				return err
			}
			dst, err := host.Store(cfg, to)
			if err != nil {
				return err
			}
			src, err := host.Store(cfg, from)
			if err != nil {
				return err
			}
			entries, err := loadMirror(cfg, c.App.ErrWriter)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := daemon.Restore(dst, entries, time.Now(), slog.Default()); err != nil {
				return fmt.Errorf("building %s (the old backend is untouched): %w", kernelObjects(cfg, to), explainKernel(err))
			}
			n, err := verifyStore(dst, entries, time.Now())
			if err != nil {
				return fmt.Errorf("%s does not hold the mirror (the old backend is untouched; run migrate again): %w", kernelObjects(cfg, to), err)
			}
			if err := src.Teardown(); err != nil {
				return fmt.Errorf("%s holds the blocks; removing %s failed: %w — run migrate again", kernelObjects(cfg, to), kernelObjects(cfg, from), explainKernel(err))
			}
			fmt.Fprintf(c.App.Writer, "migrated %d entries to %s in %s and removed %s\n", n, kernelObjects(cfg, to), time.Since(start).Round(time.Millisecond), kernelObjects(cfg, from))
			if cfg.Backend != to {
				fmt.Fprintf(c.App.Writer, "now set backend = %q in %s before starting the daemon\n", to, configName(cfg))
			}
			return nil
		},
	}, "backend", "iptables-variant", "ignore", "set-name", "chain", "target", "ports", "maxelem", "state-dir", "log-level", "log-format")
}

// nftChains checks that the configured chains have an nftables hook: a
// migrate to nftables must not fail after building half of it.
func nftChains(cfg *config.Config) error {
	for _, ch := range cfg.Chains {
		switch ch {
		case "INPUT", "FORWARD", "DOCKER-USER":
		default:
			return &config.Error{Key: "chain", Value: ch, Allowed: "with backend = nftables: INPUT, FORWARD or DOCKER-USER (hook input or forward)"}
		}
	}
	return nil
}

// configName names the config file for a message.
func configName(cfg *config.Config) string {
	if cfg.File != "" {
		return cfg.File
	}
	return config.DefaultPath
}

// verifyStore checks that store's rules are in place and that every entry
// of the mirror in force at now is in its sets, or inside a range there
// (nftables holds no overlaps). It returns how many entries it checked.
func verifyStore(store ipsetstore.Store, mirror []blocklist.Entry, now time.Time) (int, error) {
	st, err := store.Status()
	if err != nil {
		return 0, err
	}
	if !st.Healthy() {
		return 0, fmt.Errorf("the sets or rules are not all in place: %+v", st)
	}
	have, err := store.List()
	if err != nil {
		return 0, err
	}
	in := make(map[netip.Prefix]bool, len(have))
	for _, e := range have {
		in[e.Prefix] = true
	}
	n := 0
	var missing []string
	for e := range blocklist.InForce(mirror, now) {
		n++
		p := e.Prefix.Masked()
		if in[p] || coveredBy(in, p) {
			continue
		}
		missing = append(missing, p.String())
	}
	if len(missing) > 0 {
		return n, fmt.Errorf("%d of %d mirror entries are missing: %s", len(missing), n, sample.List(missing))
	}
	return n, nil
}

// coveredBy reports whether a wider prefix of in contains p.
func coveredBy(in map[netip.Prefix]bool, p netip.Prefix) bool {
	for b := p.Bits() - 1; b > 0; b-- {
		if in[netip.PrefixFrom(p.Addr(), b).Masked()] {
			return true
		}
	}
	return false
}
