package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

func banCommand() *cli.Command {
	return command(&cli.Command{
		Name:      "ban",
		Usage:     "block an address or range by hand",
		ArgsUsage: "ADDR[/PREFIX]...",
		Description: "ban adds addresses or ranges to the mirror file and to the kernel sets at once.\n" +
			"The block is permanent until `recidivist unban`. Addresses in the ignore list,\n" +
			"0.0.0.0/0 and ::/0 are refused; ranges wider than /16 (IPv4) or /32 (IPv6) need --force,\n" +
			"which marks the line \"force\" in the mirror (a wide line without the mark is refused).\n" +
			"Lines of an iptables-repeater ip.blocklist can be imported with\n" +
			"   cut -d' ' -f1 ip.blocklist | xargs recidivist ban\n\n" +
			"Examples:\n" +
			"   recidivist ban 203.0.113.7 --comment \"brute force on webmail\"\n" +
			"   recidivist ban 2001:db8:bad::/48",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "comment", Usage: "text kept with the entry in the mirror"},
			&cli.BoolFlag{Name: "force", Usage: "allow ranges wider than /16 (IPv4) or /32 (IPv6); the mirror line gets the mark \"force\""},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if c.NArg() == 0 {
				return usageErrorf("ban needs an address, e.g. recidivist ban 203.0.113.7")
			}
			policy := blocklist.Policy{Ignore: cfg.Ignore}
			now := time.Now().UTC().Truncate(time.Second)
			var entries []blocklist.Entry
			for _, arg := range c.Args().Slice() {
				p, err := blocklist.ParsePrefix(arg)
				if err != nil {
					return usageErrorf("%q is not an address or CIDR: %v", arg, err)
				}
				if err := policy.Check(p, c.Bool("force")); err != nil {
					return usageErrorf("refusing to ban %s: %v", p, err)
				}
				// A range only --force lets through carries the mark on its
				// line: without it the mirror refuses the line.
				forced := policy.Check(p, false) != nil
				entries = append(entries, blocklist.Entry{Prefix: p, Added: now, Manual: true, Force: forced, Comment: c.String("comment")})
			}
			if cfg.DryRun {
				for _, e := range entries {
					fmt.Fprintf(c.App.Writer, "dry run: would ban %s\n", e.Prefix)
				}
				return nil
			}
			// The mirror and the kernel change in one transaction under the
			// mirror's lock, which a running daemon's kernel writes take too.
			var store ipsetstore.Store
			if !netAdmin() {
				fmt.Fprintln(c.App.ErrWriter, kernelLater(cfg))
			} else {
				s, err := openStore(cfg)
				if err != nil {
					return err
				}
				if _, err := s.Ensure(); err != nil {
					return explainKernel(err)
				}
				store = s
			}
			added, err := daemon.Ban(host.Mirror(cfg), store, entries, time.Now())
			if err != nil {
				return explainKernel(err)
			}
			for _, e := range entries {
				state := "banned"
				if !containsPrefix(added, e.Prefix) {
					state = "already banned"
				}
				fmt.Fprintf(c.App.Writer, "%s %s\n", state, e.Prefix)
			}
			return nil
		},
	}, "ignore", "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "state-dir", "dry-run", "log-level", "log-format")
}

// kernelLater says when a change made without root reaches the kernel.
func kernelLater(cfg *config.Config) string {
	if h, held, err := statedir.ReadHolder(cfg.StateDir); err == nil && held {
		return fmt.Sprintf("recidivist: no CAP_NET_ADMIN (not root): the mirror is changed; the daemon (PID %d) applies it to the kernel sets within a moment", h.PID)
	}
	return "recidivist: no CAP_NET_ADMIN (not root): the mirror is changed but not the kernel sets; run sudo recidivist restore (or start the daemon) to apply it"
}
