package main

import (
	"fmt"
	"io"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
)

// loadMirror reads the mirror of cfg, warning about each bad line on w.
func loadMirror(cfg *config.Config, w io.Writer) (*blocklist.File, []blocklist.Entry, error) {
	f := blocklist.Open(daemon.MirrorPath(cfg.StateDir))
	entries, bad, err := f.Load()
	if err != nil {
		return nil, nil, err
	}
	for _, le := range bad {
		fmt.Fprintf(w, "recidivist: warning: skipping bad line: %v\n", le)
	}
	return f, entries, nil
}
