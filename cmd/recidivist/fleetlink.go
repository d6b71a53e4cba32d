package main

import (
	"fmt"
	"io"
	"time"

	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/fleet"
)

// printFleetLink writes the daemon's link to the fleet, as `status` and
// `fleet status` show it: each side connected or not and since when, the
// writer's backlog and repairs, the reader's last change and snapshots, and
// what this host did with the fleet's records.
func printFleetLink(w io.Writer, l daemon.FleetLink, running bool, now time.Time) {
	saved := ""
	if !running {
		saved = fmt.Sprintf(" (daemon not running; as saved %s)", age(l.Saved, now))
	}
	side := func(s fleet.Status) string {
		state := "connected"
		if !s.Connected {
			state = "DISCONNECTED"
		}
		if !s.Since.IsZero() {
			state += fmt.Sprintf(" since %s (%s)", s.Since.Local().Format(time.RFC3339), age(s.Since, now))
		}
		if !s.Connected && s.LastError != "" {
			state += ": " + s.LastError
		}
		return state
	}
	if s := l.Writer; s != nil {
		fmt.Fprintf(w, "fleet:    push %s%s\n", side(*s), saved)
		fmt.Fprintf(w, "          outbox pushed to %d, backlog %d; %d rewinds (Redis had lost writes), %d mirror records re-pushed\n",
			s.Pushed, s.Backlog, s.Rewinds, s.RePushed)
		saved = ""
	}
	if s := l.Reader; s != nil {
		fmt.Fprintf(w, "fleet:    read %s%s\n", side(*s), saved)
		last := "no change applied yet"
		if !s.LastChange.IsZero() {
			last = fmt.Sprintf("last change %s applied %s", s.Cursor, age(s.LastChange, now))
		}
		fmt.Fprintf(w, "          %s; %d records read, %d snapshots\n", last, s.Applied, s.Snapshots)
	}
	r := l.Records
	fmt.Fprintf(w, "          fleet records here: %d blocked, %d unbanned, %d refused (ignore list or too wide), %d not accepted (fleet-accept)\n",
		r["blocked"], r["unbanned"], r["refused"], r["not_accepted"])
}
