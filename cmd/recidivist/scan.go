package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/progress"
	"github.com/recidivist/recidivist/watcher"
)

func scanCommand() *cli.Command {
	return command(&cli.Command{
		Name:      "scan",
		Usage:     "print who would be blocked by reading fail2ban logs offline",
		ArgsUsage: "FILE...",
		Description: "scan reads fail2ban logs (plain or .gz) and prints the addresses that would be\n" +
			"blocked under the current settings, with their ban count, jails, first and last ban.\n" +
			"The rotated copies of a log are read oldest first, then the log, whatever the order\n" +
			"given (so fail2ban.log* works); other files in the order given, oldest first. It makes\n" +
			"the same decisions as the daemon on the same lines, needs no root and touches nothing.\n" +
			"A long scan shows its progress on stderr. With --journal and no FILE it reads fail2ban's\n" +
			"entries in the systemd journal instead (see journal-match, journal-directory).\n\n" +
			"Examples:\n" +
			"   recidivist scan /var/log/fail2ban.log.2.gz /var/log/fail2ban.log.1 /var/log/fail2ban.log\n" +
			"   recidivist scan --threshold 5 --window 30d --json /var/log/fail2ban.log\n" +
			"   recidivist scan --journal",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (a list of offenders) instead of a table"},
			&cli.BoolFlag{Name: "journal", Usage: "read fail2ban's entries in the systemd journal instead of files"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			files := c.Args().Slice()
			switch {
			case c.Bool("journal") && len(files) > 0:
				return usageErrorf("scan reads either the journal (--journal) or files, not both")
			case c.Bool("journal"):
				files = []string{watcher.JournalLog}
			case len(files) == 0:
				return usageErrorf("scan needs at least one log file, e.g. recidivist scan /var/log/fail2ban.log, or --journal")
			}
			offenders, stats, err := scan(c.Context, cfg, files)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, offendersJSON(offenders))
			}
			if err := printOffenders(c.App.Writer, offenders); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "%d lines, %d countable bans, %d lines skipped; %d offenders (threshold %d within %s)\n",
				stats.Lines, stats.Bans, stats.SkippedTotal(), len(offenders), cfg.Threshold, config.FormatDuration(cfg.Window))
			return nil
		},
	}, "log-timezone", "journal-match", "journal-directory", "threshold", "window", "jails", "exclude-jails", "ignore", "log-level", "log-format")
}

// scan runs the daemon's decision path over files.
// It stops, with ctx's error, once ctx ends.
func scan(ctx context.Context, cfg *config.Config, files []string) ([]watcher.Offender, watcher.Stats, error) {
	p := watcher.NewPipeline(
		watcher.NewParser(watcher.ParserConfig{Location: cfg.Location}),
		watcher.NewFilter(cfg.Jails, cfg.ExcludeJails, cfg.Ignore),
		watcher.NewTracker(cfg.Threshold, cfg.Window),
	)
	// An address blocked once would stay blocked; if its bans go on it
	// reaches the threshold again, and those reports merge into one line.
	byAddr := map[netip.Addr]int{}
	var offenders []watcher.Offender
	onOffender := func(o watcher.Offender) {
		i, seen := byAddr[o.Addr]
		if !seen {
			byAddr[o.Addr] = len(offenders)
			offenders = append(offenders, o)
			return
		}
		prev := &offenders[i]
		prev.Bans += o.Bans
		prev.Jails = mergeJails(prev.Jails, o.Jails)
		if o.First.Before(prev.First) {
			prev.First = o.First
		}
		if o.Last.After(prev.Last) {
			prev.Last = o.Last
		}
	}
	var err error
	if len(files) == 1 && watcher.IsJournal(files[0]) {
		err = watcher.ScanJournal(ctx, watcher.JournalConfig{Match: cfg.JournalMatch, Directory: cfg.JournalDirectory}, time.Time{}, p, onOffender)
	} else {
		// Years of rotated logs take a while: progress goes to stderr (a
		// live line on a terminal), never to the table on stdout.
		err = watcher.ScanFilesWith(ctx, watcher.OldestFirst(files), p, onOffender, watcher.ScanOptions{Progress: &progress.Options{}})
	}
	if err != nil {
		return nil, watcher.Stats{}, err
	}
	sort.SliceStable(offenders, func(i, j int) bool { return offenders[i].First.Before(offenders[j].First) })
	return offenders, p.Stats(), nil
}

// mergeJails returns the union of a and b, both sorted and distinct.
func mergeJails(a, b []string) []string {
	if sortedSubset(b, a) {
		return a // the usual case: no new jail
	}
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// sortedSubset tells whether every element of sub is in set, both sorted:
// one walk, as an address offends again and again in a big scan.
func sortedSubset(sub, set []string) bool {
	i := 0
	for _, s := range sub {
		// == first: jail names are interned, so equal ones share their
		// bytes and compare at once.
		for i < len(set) && set[i] != s {
			if set[i] > s {
				return false
			}
			i++
		}
		if i == len(set) {
			return false
		}
		i++
	}
	return true
}

// offenderJSON is the stable JSON form of an offender (scan, offenders).
type offenderJSON struct {
	Address string    `json:"address"`
	Bans    int       `json:"bans"`
	Jails   []string  `json:"jails"`
	First   time.Time `json:"first_ban"`
	Last    time.Time `json:"last_ban"`
}

func offendersJSON(os []watcher.Offender) []offenderJSON {
	out := make([]offenderJSON, 0, len(os))
	for _, o := range os {
		out = append(out, offenderJSON{Address: o.Addr.String(), Bans: o.Bans, Jails: o.Jails, First: o.First, Last: o.Last})
	}
	return out
}

func printOffenders(w io.Writer, os []watcher.Offender) error {
	bw := bufio.NewWriter(w) // tabwriter writes cell by cell: thousands of writes to a pipe otherwise
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tBANS\tJAILS\tFIRST BAN\tLAST BAN")
	for _, o := range os {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", o.Addr, o.Bans, strings.Join(o.Jails, ","), o.First.Format(time.RFC3339), o.Last.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return bw.Flush()
}
