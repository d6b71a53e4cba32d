package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/recidivist/recidivist/fleet"
)

// Fleet is the fleet-* settings: sharing counts and the blocklist with
// other hosts over Redis. Off when Redis is empty.
type Fleet struct {
	Redis        string // "" = off
	Name         string
	Host         string
	User         string
	PasswordFile string
	TLSCA        string
	AcceptBlock  bool // apply remote blocks
	AcceptUnban  bool // apply remote unbans
}

// On reports whether fleet sharing is configured.
func (f Fleet) On() bool { return f.Redis != "" }

// Options are the settings as the fleet package takes them.
func (f Fleet) Options() fleet.Options {
	return fleet.Options{URL: f.Redis, Name: f.Name, Host: f.Host, User: f.User, PasswordFile: f.PasswordFile, TLSCA: f.TLSCA}
}

// loadFleet reads and checks the fleet-* keys, reporting each bad one
// through bad.
func loadFleet(str func(string) string, strs func(string) []string, bad func(key, value, allowed string)) Fleet {
	f := Fleet{
		Redis:        str("fleet-redis"),
		Name:         str("fleet-name"),
		Host:         str("fleet-host"),
		User:         str("fleet-user"),
		PasswordFile: str("fleet-password-file"),
		TLSCA:        str("fleet-tls-ca"),
	}
	scheme := ""
	if f.Redis != "" {
		t, err := fleet.ParseURL(f.Redis)
		if err != nil {
			bad("fleet-redis", f.Redis, fmt.Sprintf("%v; redis-sentinel://S1,S2,S3/MASTER for Sentinel; empty for off", err))
		}
		scheme = t.Scheme
	}
	const names = "1 to 64 letters, digits, '.', '_' or '-'"
	if !fleet.ValidName(f.Name) {
		bad("fleet-name", f.Name, names)
	}
	if f.Host == "" && f.On() { // the hostname is looked up only for a fleet: it must not fail a host without one
		h, err := os.Hostname()
		if err != nil {
			bad("fleet-host", "", fmt.Sprintf("the hostname could not be read (%v): set fleet-host", err))
		}
		f.Host = h
	}
	if f.Host != "" && !fleet.ValidName(f.Host) {
		bad("fleet-host", f.Host, names+" (set fleet-host when the hostname has other characters)")
	}
	if strings.ContainsAny(f.User, " \t\r\n") {
		bad("fleet-user", f.User, "a Redis ACL user name without spaces")
	}
	for _, k := range []struct{ key, path string }{{"fleet-password-file", f.PasswordFile}, {"fleet-tls-ca", f.TLSCA}} {
		if k.path != "" && !filepath.IsAbs(k.path) {
			bad(k.key, k.path, "an absolute file path")
		}
	}
	if f.TLSCA != "" && (scheme == "redis" || scheme == "unix") {
		bad("fleet-tls-ca", f.TLSCA, "only with fleet-redis = rediss://… or redis-sentinel://…: "+scheme+":// is not TLS")
	}
	accept := strs("fleet-accept")
	for _, a := range accept {
		switch a {
		case "block":
			f.AcceptBlock = true
		case "unban":
			f.AcceptUnban = true
		default:
			bad("fleet-accept", a, `"block", "unban" or both ("block,unban")`)
		}
	}
	if len(accept) == 0 {
		bad("fleet-accept", "", `"block", "unban" or both ("block,unban")`)
	}
	return f
}
