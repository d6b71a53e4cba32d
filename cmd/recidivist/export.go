package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/export"
)

// listenExport binds the export server of cfg, or returns nil when
// export-listen is off. A bind failure is returned (exit status 1 at
// start): an admin who configured an export wants to know at once. Once
// running, the server's failures are logged and counted, never fatal.
func listenExport(cfg *config.Config, m *export.Metrics) (*export.Server, error) {
	if cfg.ExportListen == "" {
		return nil, nil
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown" // the header names the host as a courtesy; nothing depends on it
	}
	h := export.NewHandler(export.Options{
		Source:  mirrorSource(openMirror(cfg)),
		Auth:    export.Auth{Token: cfg.ExportToken, Allow: cfg.ExportAllow},
		Host:    host,
		Metrics: m,
	})
	srv, err := export.Listen(cfg.ExportListen, h)
	if err != nil {
		return nil, fmt.Errorf("%w — free the address or change export-listen (blocking was not started)", err)
	}
	slog.Info("serving the blocklist export", "addr", srv.Addr().String(), "token", cfg.ExportTokenFile != "", "allow", len(cfg.ExportAllow))
	return srv, nil
}

// mirrorSource reads the entries in force of mirror (openMirror's: the same
// refusal policy as the daemon), parsing the file again only when it
// changed since the last read: a big mirror is costly to parse per request.
func mirrorSource(mirror *blocklist.File) export.Source {
	var (
		mu     sync.Mutex // guards cached
		cached []blocklist.Entry
		valid  bool
	)
	return func() ([]blocklist.Entry, error) {
		mu.Lock()
		defer mu.Unlock()
		if valid && mirror.Unchanged() {
			return cached, nil
		}
		es, _, err := mirror.Load() // bad lines are the daemon's and check's to report
		if err != nil {
			valid = false
			return nil, err
		}
		cached, valid = es, true
		return es, nil
	}
}
