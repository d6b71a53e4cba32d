package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
)

func listCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "list",
		Usage: "print the blocked addresses with when, why and expiry",
		Description: "list prints every entry of the mirror file (the blocklist): when it was added, why\n" +
			"(jails and ban count, or manual), and when it expires. Lines that are not in force\n" +
			"(bad, or refused like 127.0.0.1 or 0.0.0.0/0) are left out and reported on stderr.\n" +
			"Needs only read access to the state directory.\n\n" +
			"Examples:\n" +
			"   recidivist list\n" +
			"   recidivist list --json | jq -r '.[].address'",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			entries, err := loadMirror(cfg, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, entriesJSON(entries))
			}
			printEntries(c.App.Writer, entries)
			return nil
		},
	}, "state-dir", "ignore", "log-level", "log-format")
}

// entryJSON is the stable JSON form of a blocklist entry.
type entryJSON = blocklist.JSON

func entriesJSON(es []blocklist.Entry) []entryJSON {
	out := make([]entryJSON, 0, len(es))
	for _, e := range es {
		out = append(out, e.JSON())
	}
	return out
}

func printEntries(w io.Writer, es []blocklist.Entry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tADDED\tWHY\tEXPIRES")
	for _, e := range es {
		added, expires := "-", "never"
		if !e.Added.IsZero() {
			added = e.Added.Format(time.RFC3339)
		}
		if !e.Expires.IsZero() {
			expires = e.Expires.Format(time.RFC3339)
		}
		why := "manual"
		if len(e.Jails) > 0 {
			why = fmt.Sprintf("%d bans in %s", e.Bans, strings.Join(e.Jails, ","))
		}
		if e.Net {
			why = fmt.Sprintf("net escalation: %d members, %d holes; ", len(e.Members), len(e.Holes)) + why
		}
		switch note := e.Note(); {
		case note != "" && (e.Manual || len(e.Jails) > 0):
			why += ": " + note
		case note != "":
			why = note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Address(), added, why, expires)
	}
	tw.Flush()
}
