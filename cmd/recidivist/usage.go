package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// noCommand is the app's own action: it runs when the first argument is not
// a command. Without arguments it shows the help; with one it says that the
// command does not exist, lists the commands and exits 2 (urfave/cli would
// look for a help topic and exit 3).
func noCommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	var names []string
	for _, cmd := range c.App.VisibleCommands() {
		names = append(names, cmd.Name)
	}
	msg := fmt.Sprintf("unknown command '%s'", name)
	if near := nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean '%s'?", near)
	}
	return usageErrorf("%s\ncommands: %s (see recidivist --help)", msg, strings.Join(names, ", "))
}

// flagError turns the flag package's "flag provided but not defined: -x"
// into "unknown flag --x", with the nearest of flags when one is close, and
// points at the help.
func flagError(err error, flags []cli.Flag, help string) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return usageErrorf("%v (see %s)", err, help)
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	for _, f := range append(flags, cli.HelpFlag, cli.VersionFlag) {
		if f == nil {
			continue
		}
		if h, ok := f.(interface{ IsVisible() bool }); ok && !h.IsVisible() {
			continue
		}
		names = append(names, f.Names()...)
	}
	if near := nearest(name, names); near != "" {
		return usageErrorf("%s: did you mean %s? (see %s)", dashed(name), dashed(near), help)
	}
	return usageErrorf("unknown flag %s (see %s)", dashed(name), help)
}

// dashed writes a flag name as it is typed: -h, --threshold.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// nearest returns the candidate closest to s in edit distance, if it is close
// enough to be a typo of it (at most a third of its length, and at least one
// edit allowed), or "".
func nearest(s string, candidates []string) string {
	best, bestDist := "", max(1, len(s)/3)+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (optimal string alignment)
// of a and b: insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
