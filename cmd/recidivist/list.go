package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

func listCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "list",
		Usage: "print the blocked addresses with when, why, expiry and hits",
		Description: "list prints every entry of the mirror file (the blocklist): when it was added, why\n" +
			"(jails and ban count, or manual), when it expires, how many packets it stopped and\n" +
			"when it was last hit (as the daemon's hit sampler last saw it, every hit-sample-interval;\n" +
			"run as root, the packet counts are read from the kernel now). Lines that are not in\n" +
			"force (bad, or refused like 127.0.0.1 or 0.0.0.0/0) are left out and reported on\n" +
			"stderr. --idle lists only the blocks that idle-unblock would remove once they are idle\n" +
			"that long (automatic blocks; with idle-unblock-manual, manual bans and ranges too).\n" +
			"Needs only read access to the state directory.\n\n" +
			"Examples:\n" +
			"   recidivist list\n" +
			"   recidivist list --idle 90d\n" +
			"   recidivist list --json | jq -r '.[] | select(.packets == 0) | .address'",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
			&cli.StringFlag{Name: "idle", Usage: "list only the blocks idle-unblock could remove that have not been hit for `DURATION`, e.g. 30d"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			var idle time.Duration
			if v := c.String("idle"); v != "" {
				if idle, err = config.ParseDuration(v); err != nil || idle <= 0 {
					return usageErrorf("--idle %q: give a duration like 30d or 90d", v)
				}
			}
			entries, err := loadMirror(cfg, c.App.ErrWriter)
			if err != nil {
				return err
			}
			book, err := hits.Load(statedir.Hits(cfg.StateDir))
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "recidivist: warning: %v; hits are left out\n", err)
				book = &hits.Book{}
			}
			now := time.Now()
			if idle > 0 {
				entries = idleEntries(entries, book, now, idle, cfg.IdleUnblockManual)
			}
			listed := listEntries(entries, book, liveCounters(cfg))
			if c.Bool("json") {
				return writeJSON(c.App.Writer, listed)
			}
			printEntries(c.App.Writer, listed)
			return nil
		},
	}, "state-dir", "ignore", "idle-unblock-manual", "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "log-level", "log-format")
}

// entryJSON is the stable JSON form of a listed entry: the blocklist
// entry's, with its hits.
type entryJSON struct {
	blocklist.JSON
	Packets uint64     `json:"packets"`
	Bytes   uint64     `json:"bytes"`
	LastHit *time.Time `json:"last_hit"` // null: never seen hit
}

// idleEntries keeps the entries idle-unblock could remove that have been
// idle at least idle at now.
func idleEntries(es []blocklist.Entry, book *hits.Book, now time.Time, idle time.Duration, manualToo bool) []blocklist.Entry {
	var out []blocklist.Entry
	for _, e := range es {
		if hits.Unblockable(e, manualToo) && book.Idle(e, now) >= idle {
			out = append(out, e)
		}
	}
	return out
}

// liveCounters reads the counters from the kernel, or returns nil when
// this process may not (not root) or cannot.
func liveCounters(cfg *config.Config) map[netip.Prefix]ipsetstore.Counted {
	s, err := openStore(cfg)
	if err != nil {
		return nil
	}
	c, ok := s.(ipsetstore.Counter)
	if !ok {
		return nil
	}
	cs, err := c.ListCounted()
	if err != nil {
		return nil // the sampler's figures are shown instead
	}
	out := make(map[netip.Prefix]ipsetstore.Counted, len(cs))
	for _, e := range cs {
		out[e.Prefix] = e
	}
	return out
}

// listEntries joins the entries with their hits: the counters from live
// when it has the entry, else from the book.
func listEntries(es []blocklist.Entry, book *hits.Book, live map[netip.Prefix]ipsetstore.Counted) []entryJSON {
	out := make([]entryJSON, 0, len(es))
	for _, e := range es {
		j := entryJSON{JSON: e.JSON()}
		r, known := book.Records[e.Prefix]
		if known {
			j.Packets, j.Bytes = r.Packets, r.Bytes
			if !r.LastHit.IsZero() {
				t := r.LastHit
				j.LastHit = &t
			}
		}
		if c, ok := live[e.Prefix]; ok {
			j.Packets, j.Bytes = c.Packets, c.Bytes
		}
		out = append(out, j)
	}
	return out
}

func printEntries(w io.Writer, es []entryJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tADDED\tWHY\tEXPIRES\tPACKETS\tLAST HIT")
	for _, e := range es {
		added, expires, lastHit := "-", "never", "never"
		if e.Added != nil {
			added = e.Added.Format(time.RFC3339)
		}
		if e.Expires != nil {
			expires = e.Expires.Format(time.RFC3339)
		}
		if e.LastHit != nil {
			lastHit = e.LastHit.Format(time.RFC3339)
		}
		why := "manual"
		if len(e.Jails) > 0 {
			why = fmt.Sprintf("%d bans in %s", e.Bans, strings.Join(e.Jails, ","))
		}
		if e.Net {
			why = fmt.Sprintf("net escalation: %d members, %d holes; ", len(e.Members), len(e.Holes)) + why
		}
		switch note := e.Comment; {
		case note != "" && (e.Manual || len(e.Jails) > 0):
			why += ": " + note
		case note != "":
			why = note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.Address, added, why, expires, e.Packets, lastHit)
	}
	tw.Flush()
}
