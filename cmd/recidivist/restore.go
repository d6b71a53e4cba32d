package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/daemon"
)

func restoreCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "restore",
		Usage: "create the sets and rules and load the mirror into them (for boot)",
		Description: "restore is the one-shot for boot (examples/systemd/recidivist-restore.service runs it\n" +
			"before the network comes up): it creates the ipsets and the match rules if missing and\n" +
			"loads every entry of the mirror file into the sets in one atomic swap, then exits.\n" +
			"Running it again changes nothing. A line of the mirror that is bad, or that the\n" +
			"refusal policy refuses (an address of the ignore list, loopback, 0.0.0.0/0, ::/0, a\n" +
			"non-unicast address, a range wider than /16 (IPv4) or /32 (IPv6) whose line lacks the\n" +
			"force mark that ban --force writes), is reported with file:line and the fix and\n" +
			"skipped; every other line is loaded. A symlinked mirror is refused, never followed.\n" +
			"A configured chain that does not exist yet (DOCKER-USER before Docker starts) is\n" +
			"warned about and left pending: the daemon puts the rule in once the chain appears.\n\n" +
			"--rules-only puts back only the match rules of the sets that exist, and touches no\n" +
			"set and not the mirror: for a firewall's hook that runs after the firewall flushed\n" +
			"the chains, such as ufw's /etc/ufw/after.init with MANAGE_BUILTINS=yes (see README).\n\n" +
			"Examples:\n" +
			"   recidivist restore\n" +
			"   recidivist restore --rules-only",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "rules-only", Usage: "put back only the match rules of the existing sets; touch no set and not the mirror"}},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if c.Bool("rules-only") {
				store, err := openStore(cfg)
				if err != nil {
					return err
				}
				if err := daemon.RestoreRules(store, slog.Default()); err != nil {
					return explainKernel(err)
				}
				return nil
			}
			// Ctrl-C stops restore before it changes the kernel; once the
			// one atomic load has begun it runs to its end (seconds at
			// most), leaving the sets either as they were or equal to the
			// mirror.
			if err := c.Context.Err(); err != nil {
				return fmt.Errorf("restore did not start: %w", err)
			}
			store, err := openStore(cfg)
			if err != nil {
				return err
			}
			entries, err := loadMirror(cfg, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if err := c.Context.Err(); err != nil {
				return fmt.Errorf("restore stopped before changing the sets: %w", err)
			}
			start := time.Now()
			if err := daemon.Restore(store, entries, time.Now(), slog.Default()); err != nil {
				return explainKernel(err)
			}
			slog.Info("restored the blocklist", "entries", len(entries), "took", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}, "ignore", "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "state-dir", "log-level", "log-format")
}
