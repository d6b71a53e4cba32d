package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/statedir"
)

func teardownCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "teardown",
		Usage: "remove the match rules and the sets; keep the mirror",
		Description: "teardown removes recidivist's iptables/ip6tables rules, then its two ipsets. The\n" +
			"mirror file stays, so `recidivist restore` brings every block back. Stop the daemon\n" +
			"first, or its next reconcile re-creates them.\n\n" +
			"Example:\n" +
			"   systemctl stop recidivist && recidivist teardown",
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if h, held, err := statedir.ReadHolder(cfg.StateDir); err == nil && held {
				return fmt.Errorf("the daemon (PID %d) runs on %s and would re-create the sets and rules at its next reconcile: stop it first (systemctl stop recidivist)", h.PID, cfg.StateDir)
			}
			store, err := openStore(cfg)
			if err != nil {
				return err
			}
			if err := store.Teardown(); err != nil {
				return explainKernel(err)
			}
			fmt.Fprintf(c.App.Writer, "removed %s; the mirror %s is kept\n", kernelObjects(cfg, cfg.Backend), statedir.Mirror(cfg.StateDir))
			return nil
		},
	}, "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "state-dir", "log-level", "log-format")
}
