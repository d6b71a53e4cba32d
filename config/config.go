// Package config declares every setting of recidivist once — its flag, its
// environment variable, its TOML key, its default and its help — and turns
// the three sources into one validated Config (flag > env > file > default).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/internal/addr"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/watcher"
)

// Config is the validated set of settings a command runs with.
type Config struct {
	Logs              []string
	JournalMatch      []string // journalctl matches for the log "journal"
	JournalDirectory  string   // "" is the system journal
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
	// HitSampleInterval is how often the counters are sampled; IdleUnblock
	// (0: off) how long an automatic block may go unhit before it is
	// removed; IdleUnblockManual extends that to manual bans and ranges.
	HitSampleInterval time.Duration
	IdleUnblock       time.Duration
	IdleUnblockManual bool
	// Export of the blocklist (see loadExport). ExportToken is the secret
	// read from ExportTokenFile: never log it.
	ExportListen    string
	ExportTokenFile string
	ExportToken     string
	ExportAllow     []netip.Prefix
	Backend         string // "ipset" or "nftables"
	IPTablesVariant string // "auto", "nft" or "legacy"
	Fleet           Fleet
	Notify          Notify // the notify-* keys (see loadNotify)
	Net             Net    // the net-* keys (see loadNet)
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

// Load validates the settings of the command c (its flags already merged with
// env vars and the config file by the Before hook of Apply). A key the
// command does not carry gets its default.
func Load(c *cli.Context) (*Config, error) {
	return load(fileOf(c), func(k string) []string {
		key, _ := lookup(k)
		if !commandHas(c, k) {
			return key.Default
		}
		switch key.Kind {
		case Strings:
			return c.StringSlice(k)
		case Int:
			return []string{strconv.Itoa(c.Int(k))}
		case Bool:
			return []string{strconv.FormatBool(c.Bool(k))}
		default:
			return []string{c.String(k)}
		}
	})
}

// Defaults returns the settings every key's default in Keys gives, as Load
// gives them to a command run with no flag, variable or file.
func Defaults() *Config {
	cfg, err := load("", func(k string) []string {
		key, _ := lookup(k)
		return key.Default
	})
	if err != nil {
		panic("config: the defaults in Keys are invalid: " + err.Error()) // caught by any test
	}
	return cfg
}

// commandHas reports whether the command of c carries the flag of key k.
func commandHas(c *cli.Context, k string) bool {
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), k) {
			return true
		}
	}
	return false
}

// load validates the settings whose values values gives, key by key, as
// strings; file is the config file they were read from, or "".
func load(file string, values func(key string) []string) (*Config, error) {
	cfg := &Config{File: file}
	var errs []error
	bad := func(key, value, allowed string) {
		errs = append(errs, &Error{Key: key, Value: value, Allowed: allowed})
	}
	str := func(k string) string {
		if v := values(k); len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	strs := func(k string) []string {
		in := values(k)
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
	cfg.JournalMatch = strs("journal-match")
	if err := watcher.CheckJournalMatch(cfg.JournalMatch); err != nil {
		bad("journal-match", strings.Join(cfg.JournalMatch, " "), `journalctl matches FIELD=VALUE (FIELD in upper case) or "+", e.g. "_SYSTEMD_UNIT=fail2ban.service"`)
	}
	if cfg.JournalDirectory = str("journal-directory"); cfg.JournalDirectory != "" && !strings.HasPrefix(cfg.JournalDirectory, "/") {
		bad("journal-directory", cfg.JournalDirectory, "an absolute directory path holding journal files, e.g. /var/log/journal")
	}
	tz := str("log-timezone")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		bad("log-timezone", tz, `an IANA zone name like "Local", "UTC" or "Europe/Berlin"`)
	}
	cfg.Location = loc
	if n, err := strconv.Atoi(str("threshold")); err != nil || n < 1 || n > 1000 {
		bad("threshold", str("threshold"), "a whole number from 1 to 1000")
	} else {
		cfg.Threshold = n
	}
	var ok bool
	if cfg.Window, ok = dur("window"); ok && cfg.Window <= 0 {
		bad("window", str("window"), "a duration greater than 0")
	}
	cfg.BanTime, _ = dur("ban-time") // any duration that parses is allowed; 0 = permanent
	cfg.Jails = strs("jails")
	cfg.ExcludeJails = strs("exclude-jails")
	for _, v := range strs("ignore") {
		p, err := addr.ParsePrefix(v)
		if errors.Is(err, addr.ErrZone) {
			bad("ignore", v, "an IPv4/IPv6 address or CIDR without a zone: "+err.Error())
			continue
		}
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
	// The kernel objects' names are checked here by the rules of the
	// store that makes them, so that each error names its own key.
	if err := ipsetstore.ValidateSetName(cfg.SetName); err != nil {
		bad("set-name", cfg.SetName, err.Error())
	}
	cfg.Chains = strs("chain")
	if len(cfg.Chains) == 0 {
		bad("chain", "", `at least one iptables chain, e.g. "INPUT"`)
	}
	for _, ch := range cfg.Chains {
		if err := ipsetstore.ValidateChain(ch); err != nil {
			bad("chain", ch, err.Error())
		}
	}
	cfg.Target = strings.ToUpper(str("target"))
	if err := ipsetstore.ValidateTarget(cfg.Target); err != nil {
		bad("target", str("target"), err.Error())
	}
	cfg.Ports = str("ports")
	if err := ipsetstore.ValidatePorts(cfg.Ports); err != nil {
		bad("ports", cfg.Ports, err.Error())
	}
	if n, err := strconv.Atoi(str("maxelem")); err != nil || n < 1 || n > 1<<28 {
		bad("maxelem", str("maxelem"), "a whole number from 1 to 268435456")
	} else {
		cfg.MaxElem = uint32(n)
	}
	cfg.StateDir = str("state-dir")
	if !strings.HasPrefix(cfg.StateDir, "/") {
		bad("state-dir", cfg.StateDir, "an absolute directory path")
	}
	if cfg.ReconcileInterval, ok = dur("reconcile-interval"); ok && cfg.ReconcileInterval < time.Second {
		bad("reconcile-interval", str("reconcile-interval"), "a duration of at least 1s")
	}
	cfg.DryRun = str("dry-run") == "true"
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
	if cfg.HitSampleInterval, ok = dur("hit-sample-interval"); ok && cfg.HitSampleInterval < time.Second {
		bad("hit-sample-interval", str("hit-sample-interval"), `a duration of at least 1s, e.g. "15m"`)
	}
	if cfg.IdleUnblock, ok = dur("idle-unblock"); ok && cfg.IdleUnblock != 0 && cfg.IdleUnblock < cfg.HitSampleInterval {
		bad("idle-unblock", str("idle-unblock"), `0 (off) or a duration of at least hit-sample-interval, e.g. "90d"`)
	}
	cfg.IdleUnblockManual = str("idle-unblock-manual") == "true"
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
	cfg.IPTablesVariant = strings.ToLower(str("iptables-variant"))
	if cfg.IPTablesVariant == "" || ipsetstore.ValidateVariant(cfg.IPTablesVariant) != nil {
		bad("iptables-variant", str("iptables-variant"), "auto, nft or legacy")
	}
	cfg.Fleet = loadFleet(str, strs, bad)
	loadNotify(cfg, str, strs, dur, bad)
	loadNet(cfg, str, bad)
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
