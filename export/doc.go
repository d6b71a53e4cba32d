// Package export serves the blocklist to firewalls that are not this host's:
// pfSense and OPNsense URL tables, MikroTik RouterOS scripts, anything that
// reads one address a line or JSON over HTTP.
//
// It owns the HTTP handler (paths, formats, aggregation, auth, ETag, gzip),
// its metrics and the server loop. It reads the entries in force through a
// Source it is given and never writes anything: the mirror stays the truth,
// and blocking never waits on an export. It does not own the mirror, its
// refusal policy or the configuration keys (package config declares
// export-listen, export-token-file and export-allow).
package export
