package doctor

import (
	"fmt"
	"strings"

	"github.com/recidivist/recidivist/config"
)

// checkConfig turns the warnings config.Load collected into problems and
// names the file the settings came from.
func (d *Doctor) checkConfig() {
	for _, w := range d.cfg.Warnings {
		what, fix, _ := strings.Cut(w, "; ")
		d.problem("config: "+what, fix)
	}
	if d.cfg.File == "" {
		d.ok("config: no file at %s; built-in defaults, environment and flags are valid", config.DefaultPath)
		return
	}
	d.ok("config: %s is valid", d.cfg.File)
}

// checkExport reports the export's settings, which Load has validated (the
// listen address rules, the token file's mode).
func (d *Doctor) checkExport() {
	cfg := d.cfg
	if cfg.ExportListen == "" {
		return
	}
	var auth []string
	if cfg.ExportTokenFile != "" {
		auth = append(auth, "token from "+cfg.ExportTokenFile+" (mode 0600 or stricter)")
	}
	if len(cfg.ExportAllow) > 0 {
		auth = append(auth, fmt.Sprintf("allow list of %d", len(cfg.ExportAllow)))
	}
	if len(auth) == 0 {
		d.note("export: %s serves the blocklist to any local user (loopback, no export-token-file or export-allow)", cfg.ExportListen)
		return
	}
	d.ok("export: %s serves the blocklist; clients need the %s", cfg.ExportListen, strings.Join(auth, " or the "))
}
