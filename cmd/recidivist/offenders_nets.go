package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
)

// netJSON is one network `offenders --nets` shows: a candidate of net
// escalation, with what escalation would do with it.
type netJSON struct {
	Network string   `json:"network"`
	Members []string `json:"members"`
	// Verdict is "escalate" (net-escalation would block it at the next
	// offender), "refused" (Reason says why) or "over net-max-ranges".
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
}

// netCandidates previews net escalation over the mirror: the networks with
// at least net-threshold-v4 (v6) blocked automatic offenders that no range
// covers yet, whether or not net-escalation is on.
func netCandidates(cfg *config.Config, now time.Time) ([]netJSON, error) {
	entries, _, err := host.Mirror(cfg).Load() // no mirror yet: no entries
	if err != nil {
		return nil, err
	}
	ranges := 0
	for e := range blocklist.InForce(entries, now) {
		if e.Net {
			ranges++
		}
	}
	cands := daemon.NetCandidates(entries, cfg.Net, blocklist.Policy{Ignore: cfg.Ignore}, daemon.LocalAddrs(), now)
	out := make([]netJSON, 0, len(cands))
	for _, c := range cands {
		n := netJSON{Network: c.Prefix.String(), Verdict: "escalate"}
		for _, m := range c.Members {
			n.Members = append(n.Members, m.Address())
		}
		switch {
		case c.Refused != nil:
			n.Verdict, n.Reason = "refused", c.Refused.Error()
		case ranges >= cfg.Net.MaxRanges:
			n.Verdict = "over net-max-ranges"
		default:
			ranges++
		}
		out = append(out, n)
	}
	return out, nil
}

func printNets(w io.Writer, nets []netJSON, on bool) error {
	if len(nets) == 0 {
		_, err := fmt.Fprintln(w, "no network holds enough blocked offenders for net escalation")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tMEMBERS\tVERDICT")
	for _, n := range nets {
		verdict := n.Verdict
		if n.Reason != "" {
			verdict += ": " + n.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Network, strings.Join(n.Members, ","), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !on {
		_, err := fmt.Fprintln(w, "net-escalation is off: nothing is escalated until it is turned on")
		return err
	}
	return nil
}
