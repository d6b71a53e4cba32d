// Package config declares every setting of recidivist once — its flag, its
// environment variable, its TOML key, its default and its help — and turns
// the three sources into one validated Config (flag > env > file > default).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// Config is the validated set of settings a command runs with.
type Config struct {
	Logs              []string
	Location          *time.Location
	Threshold         int
	Window            time.Duration
	BanTime           time.Duration
	Jails             []string
	ExcludeJails      []string
	Ignore            []netip.Prefix // as configured; the always-ignored loopback is added by the packages that enforce it
	SetName           string
	Chains            []string
	Target            string
	Ports             string
	MaxElem           uint32
	StateDir          string
	ReconcileInterval time.Duration
	DryRun            bool
	LogLevel          slog.Level
	LogFormat         string
	MetricsListen     string
	// Export of the blocklist (see loadExport). ExportToken is the secret
	// read from ExportTokenFile: never log it.
	ExportListen    string
	ExportTokenFile string
	ExportToken     string
	ExportAllow     []netip.Prefix
	Backend         string // "ipset" or "nftables"
	Fleet           Fleet
	File            string // the config file that was read, "" if none
	// Warnings are settings that are valid but very likely a mistake, for
	// the command to log loudly (an ignore entry that disables all blocking).
	Warnings []string
}

// Error is a bad setting: which key, which value, and what is allowed.
// Commands exit 2 on it.
type Error struct {
	Key, Value, Allowed string
	Source              string // "flag/env/file" context, e.g. the file path
}

func (e *Error) Error() string {
	where := ""
	if e.Source != "" {
		where = " in " + e.Source
	}
	return fmt.Sprintf("invalid %s = %q%s: %s", e.Key, e.Value, where, e.Allowed)
}

// MaxSetName is the longest IPv4 set name: ipset names are at most 31
// characters and the IPv6 set appends "6".
const MaxSetName = 30

// Load validates the settings of the command c (its flags already merged with
// env vars and the config file by the Before hook of Apply).
func Load(c *cli.Context) (*Config, error) {
	cfg := &Config{File: fileOf(c)}
	var errs []error
	bad := func(key, value, allowed string) {
		errs = append(errs, &Error{Key: key, Value: value, Allowed: allowed})
	}
	has := func(k string) bool {
		for _, f := range c.Command.Flags {
			for _, n := range f.Names() {
				if n == k {
					return true
				}
			}
		}
		return false
	}
	str := func(k string) string {
		if !has(k) {
			if key, ok := lookup(k); ok && len(key.Default) > 0 {
				return key.Default[0]
			}
			return ""
		}
		return strings.TrimSpace(c.String(k))
	}
	strs := func(k string) []string {
		var in []string
		if has(k) {
			in = c.StringSlice(k)
		} else if key, ok := lookup(k); ok {
			in = key.Default
		}
		// urfave/cli has already split "a,b" in a flag or an environment
		// variable into two values; a list in the file arrives element by
		// element and is not split again, so a TOML list can name a path
		// with a comma in it.
		var out []string
		for _, v := range in {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	// dur reports whether the value parsed, so that a range check after it
	// adds nothing to a parse error of the same key.
	dur := func(k string) (time.Duration, bool) {
		v := str(k)
		d, err := ParseDuration(v)
		if err != nil {
			bad(k, v, `a duration like "90s", "10m", "1w2d", "1.5h" (units s m h d w mo y)`)
		}
		return d, err == nil
	}

	cfg.Logs = strs("log")
	if len(cfg.Logs) == 0 {
		bad("log", "", "at least one fail2ban log path")
	}
	tz := str("log-timezone")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		bad("log-timezone", tz, `an IANA zone name like "Local", "UTC" or "Europe/Berlin"`)
	}
	cfg.Location = loc
	if has("threshold") {
		cfg.Threshold = c.Int("threshold")
	} else {
		cfg.Threshold = 3
	}
	if cfg.Threshold < 1 || cfg.Threshold > 1000 {
		bad("threshold", fmt.Sprint(cfg.Threshold), "a whole number from 1 to 1000")
	}
	var ok bool
	if cfg.Window, ok = dur("window"); ok && cfg.Window <= 0 {
		bad("window", str("window"), "a duration greater than 0")
	}
	cfg.BanTime, _ = dur("ban-time") // any duration that parses is allowed; 0 = permanent
	cfg.Jails = strs("jails")
	cfg.ExcludeJails = strs("exclude-jails")
	for _, v := range strs("ignore") {
		p, err := ParsePrefix(v)
		if err != nil {
			bad("ignore", v, "an IPv4/IPv6 address or CIDR like 192.0.2.0/24 or 2001:db8::/32")
			continue
		}
		cfg.Ignore = append(cfg.Ignore, p)
		if p.Bits() == 0 {
			family := "IPv4"
			if p.Addr().Is6() {
				family = "IPv6"
			}
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("ignore %s disables all blocking of %s: no %s address is ever counted or blocked; remove it from ignore unless that is what you want", p, family, family))
		}
	}
	cfg.SetName = str("set-name")
	if !validSetName(cfg.SetName) {
		bad("set-name", cfg.SetName, fmt.Sprintf("1 to %d characters of letters, digits, '-', '_' or '.', starting with a letter or digit (ipset names are at most 31 characters and the IPv6 set adds \"6\")", MaxSetName))
	}
	cfg.Chains = strs("chain")
	if len(cfg.Chains) == 0 {
		bad("chain", "", `at least one iptables chain, e.g. "INPUT"`)
	}
	for _, ch := range cfg.Chains {
		if len(ch) > 28 || strings.ContainsAny(ch, " \t!") {
			bad("chain", ch, "an iptables chain name (at most 28 characters, no spaces)")
		}
	}
	cfg.Target = strings.ToUpper(str("target"))
	if cfg.Target != "DROP" && cfg.Target != "REJECT" {
		bad("target", str("target"), "DROP or REJECT")
	}
	cfg.Ports = str("ports")
	if err := ValidatePorts(cfg.Ports); err != nil {
		bad("ports", cfg.Ports, `empty (all ports) or PROTO:PORT[,PORT…] like "tcp:22,80,443" (proto tcp, udp or sctp; ports 1-65535, ranges as 1000:2000)`)
	}
	maxelem := 1048576
	if has("maxelem") {
		maxelem = c.Int("maxelem")
	}
	if maxelem < 1 || maxelem > 1<<28 {
		bad("maxelem", fmt.Sprint(maxelem), "a whole number from 1 to 268435456")
	}
	cfg.MaxElem = uint32(maxelem)
	cfg.StateDir = str("state-dir")
	if !strings.HasPrefix(cfg.StateDir, "/") {
		bad("state-dir", cfg.StateDir, "an absolute directory path")
	}
	if cfg.ReconcileInterval, ok = dur("reconcile-interval"); ok && cfg.ReconcileInterval < time.Second {
		bad("reconcile-interval", str("reconcile-interval"), "a duration of at least 1s")
	}
	if has("dry-run") {
		cfg.DryRun = c.Bool("dry-run")
	}
	lvl := str("log-level")
	if err := cfg.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
		bad("log-level", lvl, "debug, info, warn or error")
	}
	cfg.LogFormat = str("log-format")
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		bad("log-format", cfg.LogFormat, "text or json")
	}
	cfg.MetricsListen = str("metrics-listen")
	if cfg.MetricsListen != "" && !strings.Contains(cfg.MetricsListen, ":") {
		bad("metrics-listen", cfg.MetricsListen, `HOST:PORT like "127.0.0.1:9732", or empty for off`)
	}
	loadExport(cfg, str, strs, bad)
	cfg.Backend = strings.ToLower(str("backend"))
	switch cfg.Backend {
	case "ipset":
	case "nftables":
		for _, ch := range cfg.Chains {
			if up := strings.ToUpper(ch); up != "INPUT" && up != "FORWARD" && up != "DOCKER-USER" {
				bad("chain", ch, "with backend = nftables: INPUT, FORWARD or DOCKER-USER (hook input or forward)")
			}
		}
	default:
		bad("backend", str("backend"), "ipset or nftables")
	}
	cfg.Fleet = loadFleet(str, strs, bad)
	if len(errs) > 0 {
		for _, e := range errs {
			var ce *Error
			if errors.As(e, &ce) && cfg.File != "" {
				ce.Source = "flags, environment or " + cfg.File
			}
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func validSetName(s string) bool {
	if s == "" || len(s) > MaxSetName {
		return false
	}
	// A leading '-' would read as an option to ipset, iptables and nft, and
	// a leading '.' or '_' is as confusing in their output.
	if c := s[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ParsePrefix reads "ADDR" or "ADDR/N" into a masked prefix; a single
// address becomes /32 or /128 and an IPv4-mapped IPv6 address is unmapped.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a.WithZone(""), bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ValidatePorts checks the syntax of the ports key: "" or PROTO:PORTS.
func ValidatePorts(s string) error {
	if s == "" {
		return nil
	}
	proto, list, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") || list == "" {
		return fmt.Errorf("ports %q: want PROTO:PORT[,PORT…]", s)
	}
	for _, p := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(p, ":")
		for _, n := range []string{lo, hi} {
			if n == "" && !isRange {
				continue
			}
			v := 0
			if n == "" || len(n) > 5 {
				return fmt.Errorf("ports %q: bad port %q", s, p)
			}
			for _, c := range n {
				if c < '0' || c > '9' {
					return fmt.Errorf("ports %q: bad port %q", s, p)
				}
				v = v*10 + int(c-'0')
			}
			if v < 1 || v > 65535 {
				return fmt.Errorf("ports %q: port %d out of range", s, v)
			}
			if !isRange {
				break
			}
		}
	}
	return nil
}
