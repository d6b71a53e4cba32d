package config

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/recidivist/recidivist/internal/addr"
	"github.com/recidivist/recidivist/internal/fileperm"
)

// maxTokenFile bounds what is read of export-token-file: a token is a line,
// not a file of megabytes.
const maxTokenFile = 4096

// loadExport validates the export-* keys into cfg. str, strs and bad are
// Load's helpers.
func loadExport(cfg *Config, str func(string) string, strs func(string) []string, bad func(key, value, allowed string)) {
	for _, v := range strs("export-allow") {
		p, err := addr.ParsePrefix(v)
		if err != nil {
			bad("export-allow", v, "an IPv4/IPv6 address or CIDR of clients allowed to fetch the export, like 192.0.2.1 or 192.0.2.0/24")
			continue
		}
		cfg.ExportAllow = append(cfg.ExportAllow, p)
	}
	cfg.ExportTokenFile = str("export-token-file")
	if cfg.ExportTokenFile != "" {
		tok, err := ReadTokenFile(cfg.ExportTokenFile)
		if err != nil {
			bad("export-token-file", cfg.ExportTokenFile, err.Error())
		}
		cfg.ExportToken = tok
	}
	cfg.ExportListen = str("export-listen")
	if cfg.ExportListen == "" {
		return
	}
	loopback, err := listenLoopback(cfg.ExportListen)
	if err != nil {
		bad("export-listen", cfg.ExportListen, err.Error())
		return
	}
	if !loopback && cfg.ExportTokenFile == "" && len(cfg.ExportAllow) == 0 {
		bad("export-listen", cfg.ExportListen, "a loopback address like 127.0.0.1:9733 unless export-token-file or export-allow is set: "+
			"anyone who reaches this address would read the blocklist (set export-token-file, export-allow, or both)")
	}
}

// listenLoopback checks a HOST:PORT to listen on and reports whether it is
// loopback only. HOST must be an IP address, "localhost", or empty (every
// interface, which is not loopback).
func listenLoopback(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf(`HOST:PORT like "127.0.0.1:9733" or "[::1]:9733", or empty for off (%v)`, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return false, fmt.Errorf("HOST:PORT with a port from 0 to 65535, not %q", port)
	}
	switch host {
	case "":
		return false, nil
	case "localhost":
		return true, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false, fmt.Errorf(`HOST:PORT whose HOST is an IP address or "localhost", not the name %q (a name can resolve to another interface)`, host)
	}
	return a.Unmap().IsLoopback(), nil
}

// ReadTokenFile reads the export token from path: the file's content with
// surrounding white space trimmed. The file must be a regular file that
// neither group nor others can read or write (0600 or stricter), else the
// error says which chmod fixes it, and the token must not be empty.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("a readable file holding the export token (%v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("a readable file holding the export token (%v)", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("a regular file holding the export token, not %s", fi.Mode().Type())
	}
	if fileperm.OpenToOthers(fi) {
		return "", fmt.Errorf("a file only its owner can read (mode 0600 or stricter), not %04o: run chmod 600 %s", fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("a readable file holding the export token (%v)", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("a file holding one token of at most %d bytes", maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("a file holding a token, not an empty one: write one with  head -c 32 /dev/urandom | base64 > %s", path)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("a file holding one token without white space inside")
	}
	return tok, nil
}
