package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/watcher"
)

func offendersCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "offenders",
		Usage: "list addresses with bans in the window that are not blocked yet",
		Description: "offenders reads the daemon's history in the state directory and prints the addresses\n" +
			"that have countable bans within the window but are not (yet) in the blocklist, most\n" +
			"bans first, with their jails and first and last ban: who is closest to the threshold.\n" +
			"It works whether the daemon runs or not and needs only read access to the state\n" +
			"directory. For logs the daemon has not read, use `recidivist scan FILE`.\n\n" +
			"Examples:\n" +
			"   recidivist offenders\n" +
			"   recidivist offenders --top 0 --json | jq -r '.[] | select(.bans >= 2) | .address'\n" +
			"   recidivist offenders --nets\n\n" +
			"With --nets it previews net escalation instead: the networks (net-prefix-v4/v6) holding\n" +
			"at least net-threshold-v4/v6 blocked automatic offenders that no range covers yet, and\n" +
			"whether escalation would block each or refuses it (an ignore entry or an address of this\n" +
			"host inside, net-max-ranges reached), whether net-escalation is on or not.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "top", Value: 20, Usage: "print at most `N` addresses (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (a list of offenders) instead of a table"},
			&cli.BoolFlag{Name: "nets", Usage: "preview net escalation: networks with enough blocked offenders to be blocked whole"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if c.Bool("nets") {
				nets, err := netCandidates(cfg, time.Now())
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return writeJSON(c.App.Writer, nets)
				}
				return printNets(c.App.Writer, nets, cfg.Net.On)
			}
			top := c.Int("top")
			if top < 0 {
				return usageErrorf("--top %d: give a number of addresses, or 0 for all", top)
			}
			list, total, err := unblocked(cfg, top)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, offendersJSON(list))
			}
			if err := printOffenders(c.App.Writer, list); err != nil {
				return err
			}
			if len(list) < total {
				fmt.Fprintf(c.App.ErrWriter, "%d of %d addresses shown; --top 0 shows all\n", len(list), total)
			}
			return nil
		},
	}, "state-dir", "ignore", "threshold", "window", "net-escalation", "net-prefix-v4", "net-threshold-v4", "net-prefix-v6", "net-threshold-v6", "net-max-ranges", "log-level", "log-format")
}

// unblocked returns up to top (0: all) tracked addresses that no mirror entry
// covers, most bans first, and how many there are in all.
func unblocked(cfg *config.Config, top int) ([]watcher.Offender, int, error) {
	snap, err := watcher.ReadSnapshot(cfg.StateDir, cfg.Threshold, cfg.Window)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("no history in %s: the daemon has not run with this state directory yet (start recidivist run, or use recidivist scan FILE for an offline count)", cfg.StateDir)
	}
	if err != nil {
		return nil, 0, err
	}
	entries, _, err := host.Mirror(cfg).Load() // no mirror yet: no entries
	if err != nil {
		return nil, 0, err
	}
	blocked := newCoverage(entries)
	var out []watcher.Offender
	total := 0
	for _, o := range snap.Tracked { // most bans first
		if blocked.Covers(o.Addr) {
			continue
		}
		total++
		if top == 0 || len(out) < top {
			out = append(out, o)
		}
	}
	return out, total, nil
}

// coverage answers whether a blocklist entry covers an address: a map for
// single addresses, a scan of the (few) ranges for the rest.
type coverage struct {
	addrs  map[netip.Addr]struct{}
	ranges []netip.Prefix
	holes  []netip.Prefix // unbanned inside net ranges: not covered
}

func newCoverage(es []blocklist.Entry) coverage {
	c := coverage{addrs: make(map[netip.Addr]struct{}, len(es))}
	for _, e := range es {
		if e.Prefix.IsSingleIP() {
			c.addrs[e.Prefix.Addr()] = struct{}{}
		} else {
			c.ranges = append(c.ranges, e.Prefix)
			c.holes = append(c.holes, e.Holes...)
		}
	}
	return c
}

func (c coverage) Covers(a netip.Addr) bool {
	if _, ok := c.addrs[a]; ok {
		return true
	}
	for _, h := range c.holes {
		if h.Contains(a) {
			return false
		}
	}
	for _, p := range c.ranges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
