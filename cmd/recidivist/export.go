package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/export"
	"github.com/recidivist/recidivist/internal/host"
)

// listenExport binds the export server of cfg and returns it with its
// source, or nils when export-listen is off. A bind failure is returned (exit status 1 at
// start): an admin who configured an export wants to know at once. Once
// running, the server's failures are logged and counted, never fatal.
func listenExport(cfg *config.Config, m *export.Metrics) (*export.Server, *mirrorSource, error) {
	if cfg.ExportListen == "" {
		return nil, nil, nil
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown" // the header names the host as a courtesy; nothing depends on it
	}
	src := &mirrorSource{mirror: host.Mirror(cfg)}
	h := export.NewHandler(export.Options{
		Source:  src.load,
		Auth:    export.Auth{Token: cfg.ExportToken, Allow: cfg.ExportAllow},
		Host:    hostname,
		Metrics: m,
	})
	srv, err := export.Listen(cfg.ExportListen, h)
	if err != nil {
		return nil, nil, fmt.Errorf("%w — free the address or change export-listen (blocking was not started)", err)
	}
	slog.Info("serving the blocklist export", "addr", srv.Addr().String(), "token", cfg.ExportTokenFile != "", "allow", len(cfg.ExportAllow))
	return srv, src, nil
}

// mirrorSource reads the entries in force of a mirror (host.Mirror's: the
// same refusal policy as the daemon), parsing the file again only when it
// changed since the last read, or the policy did: a big mirror is costly to
// parse per request.
type mirrorSource struct {
	mirror *blocklist.File

	mu     sync.Mutex // guards the fields below
	cached []blocklist.Entry
	valid  bool
}

// load is the export.Source.
func (s *mirrorSource) load() ([]blocklist.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valid && s.mirror.Unchanged() {
		return s.cached, nil
	}
	es, _, err := s.mirror.Load() // bad lines are the daemon's and check's to report
	if err != nil {
		s.valid = false
		return nil, err
	}
	s.cached, s.valid = es, true
	return es, nil
}

// reload applies the refusal policy of a reloaded configuration (SIGHUP):
// the export then leaves out what the daemon does.
func (s *mirrorSource) reload(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mirror.SetPolicy(blocklist.Policy{Ignore: cfg.Ignore})
	s.valid = false
}
