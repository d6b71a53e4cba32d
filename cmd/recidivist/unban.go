package main

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/ipsetstore"
)

func unbanCommand() *cli.Command {
	return command(&cli.Command{
		Name:      "unban",
		Usage:     "unblock an address or range and forgive its past bans",
		ArgsUsage: "ADDR[/PREFIX]...",
		Description: "unban removes entries from the mirror file and from the kernel sets at once. The\n" +
			"address is forgiven: the Ban lines logged before now never count against it again,\n" +
			"whether the daemon runs or not (a stopped daemon notices at its next start). Later\n" +
			"bans count afresh. Deleting the line from the mirror by hand has the same effect.\n\n" +
			"Inside a net range (net escalation) the address becomes a hole in the range, which\n" +
			"stays blocked; once fewer members than net-threshold-v4/v6 remain, the range gives way\n" +
			"to them. Unbanning the range itself lets the whole network through, members included.\n\n" +
			"Example:\n" +
			"   recidivist unban 203.0.113.7",
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if c.NArg() == 0 {
				return usageErrorf("unban needs an address, e.g. recidivist unban 203.0.113.7")
			}
			var ps []netip.Prefix
			for _, arg := range c.Args().Slice() {
				p, err := blocklist.ParsePrefix(arg)
				if err != nil {
					return usageErrorf("%q is not an address or CIDR: %v", arg, err)
				}
				ps = append(ps, p)
			}
			if cfg.DryRun {
				for _, p := range ps {
					fmt.Fprintf(c.App.Writer, "dry run: would unban %s\n", p)
				}
				return nil
			}
			// The mirror and the kernel change in one transaction under the
			// mirror's lock, which a running daemon's kernel writes take too:
			// once this returns, the addresses are out and stay out.
			mirror := host.Mirror(cfg)
			var store ipsetstore.Store
			if netAdmin() {
				if store, err = openStore(cfg); err != nil {
					return err
				}
			}
			res, err := daemon.UnbanNet(mirror, store, ps, cfg.Net, time.Now())
			if err != nil {
				return explainKernel(err)
			}
			removed := res.Removed
			if store == nil && len(removed) > 0 {
				fmt.Fprintln(c.App.ErrWriter, kernelLater(cfg))
			}
			missing := 0
			for _, r := range res.Collapsed {
				fmt.Fprintf(c.App.Writer, "net range %s collapsed back to its %d remaining members (fewer than net-threshold)\n", r.Prefix, len(r.Members))
			}
			for _, p := range ps {
				if in, ok := res.Holes[p]; ok {
					fmt.Fprintf(c.App.Writer, "unbanned %s (a hole in net range %s, which stays blocked)\n", p, in)
					continue
				}
				if containsPrefix(removed, p) || slices.ContainsFunc(res.Collapsed, func(r blocklist.Entry) bool { return r.Prefix.Contains(p.Addr()) }) {
					fmt.Fprintf(c.App.Writer, "unbanned %s\n", p)
				} else {
					fmt.Fprintf(c.App.ErrWriter, "recidivist: %s was not in the blocklist %s\n", p, mirror.Path())
					missing++
				}
			}
			if missing == len(ps) {
				return cli.Exit("", 1)
			}
			return nil
		},
	}, "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "state-dir", "dry-run", "net-threshold-v4", "net-threshold-v6", "log-level", "log-format")
}
