package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/doctor"
	"github.com/recidivist/recidivist/internal/f2bconf"
)

func checkCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "check",
		Usage: "find what keeps recidivist from working, and say how to fix it",
		Description: "check is the doctor. It checks, in order: the configuration; that every log is there,\n" +
			"readable and shows fail2ban's Ban lines (fail2ban's loglevel and logtarget in\n" +
			"/etc/fail2ban); the privilege to change the firewall (root or CAP_NET_ADMIN); the\n" +
			"iptables and ip6tables binaries; the kernel's ipset support; that the sets and the match\n" +
			"rules are in place (a chain that does not exist yet, like DOCKER-USER before Docker\n" +
			"starts, is a warning); that the sets hold exactly the mirror; that the iptables\n" +
			"variant recidivist does not use (iptables-variant) holds no rules and no configured\n" +
			"chain, that DOCKER-USER is not missing for Docker's nftables backend, and (a warning)\n" +
			"that nftables.service does not flush the whole ruleset; that no other recidivist\n" +
			"daemon manages the same sets; that the mirror is a regular file not writable by other\n" +
			"users, and every line of it is in force (a bad line, or one the ignore list, loopback,\n" +
			"0.0.0.0/0, ::/0, non-unicast or an unmarked range wider than /16 or /32 refuses, is\n" +
			"listed with its file:line). Each\n" +
			"problem is printed with its fix. It changes nothing. Exit status 0 when all is well,\n" +
			"1 when a problem was found, 2 when the configuration itself is invalid.\n\n" +
			"Examples:\n" +
			"   sudo recidivist check\n" +
			"   recidivist check --config /etc/recidivist/recidivist.toml",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "fail2ban-config", Value: f2bconf.DefaultDir, Hidden: true, Usage: "fail2ban's configuration `DIR`"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			found := doctor.New(cfg, c.App.Writer, doctor.Options{Fail2banDir: c.String("fail2ban-config")}).Run(c.Context)
			if err := c.Context.Err(); err != nil {
				return fmt.Errorf("check did not finish: %w", err)
			}
			if found.Problems > 0 {
				return cli.Exit(fmt.Sprintf("%d problem(s) found", found.Problems), 1)
			}
			if found.Warnings > 0 {
				fmt.Fprintf(c.App.Writer, "all checks passed, with %d warning(s) above\n", found.Warnings)
				return nil
			}
			fmt.Fprintln(c.App.Writer, "all checks passed")
			return nil
		},
	})
}
