package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/host"
)

// loadMirror reads the mirror of cfg, warning about each bad or refused
// line on w.
func loadMirror(cfg *config.Config, w io.Writer) ([]blocklist.Entry, error) {
	entries, bad, err := host.Mirror(cfg).Load()
	if err != nil {
		return nil, err
	}
	for i, le := range bad {
		if i == blocklist.ReportLines {
			fmt.Fprintf(w, "recidivist: warning: skipping %d more bad lines; recidivist check lists every one\n", len(bad)-i)
			break
		}
		fmt.Fprintf(w, "recidivist: warning: skipping bad line: %v\n", le)
	}
	return entries, nil
}

// containsPrefix reports whether es, entries ban or unban got back from the
// mirror, hold p.
func containsPrefix(es []blocklist.Entry, p netip.Prefix) bool {
	for _, e := range es {
		if e.Prefix == p {
			return true
		}
	}
	return false
}
