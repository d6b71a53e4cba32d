package config

import (
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// Kind is the type of a configuration key's value.
type Kind int

// The kinds of value a key can hold.
const (
	String Kind = iota
	Strings
	Int
	Bool
	Duration
)

func (k Kind) String() string {
	switch k {
	case Strings:
		return "a string or a list of strings"
	case Int:
		return "an integer"
	case Bool:
		return "true or false"
	case Duration:
		return `a duration like "90s", "10m", "1w2d", "1.5h" (units s m h d w mo y)`
	default:
		return "a string"
	}
}

// Key declares one configuration key. It is the single source of the key's
// flag, environment variable, TOML name, default and help text.
type Key struct {
	Name    string
	Kind    Kind
	Default []string // one value, or several for Strings; empty = unset
	Usage   string
}

// Env is the environment variable that sets the key.
func (k Key) Env() string {
	return "RECIDIVIST_" + strings.ToUpper(strings.ReplaceAll(k.Name, "-", "_"))
}

// Keys lists every configuration key, in the order of PRODUCT.md.
var Keys = []Key{
	{"log", Strings, []string{"/var/log/fail2ban.log"}, "fail2ban log to follow (repeat for several); \"journal\" reads the systemd journal"},
	{"log-timezone", String, []string{"Local"}, "IANA zone of the timestamps in the log"},
	{"journal-match", Strings, []string{"_SYSTEMD_UNIT=fail2ban.service"}, "journalctl matches (FIELD=VALUE, or + for OR) that select fail2ban's entries when log is \"journal\""},
	{"journal-directory", String, nil, "read the journal from this directory (journalctl --directory) instead of the system journal, when log is \"journal\""},
	{"threshold", Int, []string{"3"}, "countable bans within window that make an offender"},
	{"window", Duration, []string{"1w"}, "sliding window over which bans are counted"},
	{"ban-time", Duration, []string{"0"}, "how long a block lasts; 0 = permanent"},
	{"jails", Strings, nil, "only count these jails (default: all)"},
	{"exclude-jails", Strings, []string{"recidive"}, "never count these jails"},
	{"ignore", Strings, nil, "addresses/CIDRs never blocked, never counted (127.0.0.0/8 and ::1 always)"},
	{"set-name", String, []string{"recidivist"}, "IPv4 ipset name; the IPv6 set is this name + \"6\""},
	{"chain", Strings, []string{"INPUT"}, "chain(s) that get the one match rule, e.g. INPUT, DOCKER-USER"},
	{"target", String, []string{"DROP"}, "DROP or REJECT"},
	{"ports", String, nil, "restrict the rule to ports, e.g. tcp:22,80,443 (default: all)"},
	{"maxelem", Int, []string{"1048576"}, "maximum entries per ipset"},
	{"state-dir", String, []string{"/var/lib/recidivist"}, "directory of the mirror (blocklist), history, checkpoint and lock"},
	{"reconcile-interval", Duration, []string{"1m"}, "how often the kernel is checked against the mirror"},
	{"dry-run", Bool, []string{"false"}, "decide and log, change nothing in the kernel or the mirror"},
	{"log-level", String, []string{"info"}, "debug, info, warn or error"},
	{"log-format", String, []string{"text"}, "text or json"},
	{"metrics-listen", String, nil, "address for Prometheus metrics, e.g. 127.0.0.1:9732 (default: off)"},
	// Hits per block and idle unblock (package hits).
	{"hit-sample-interval", Duration, []string{"15m"}, "how often the daemon reads each block's packet counter to learn when it was last hit"},
	{"idle-unblock", Duration, []string{"0"}, "remove an automatic block not hit for this long, e.g. 90d; the offender is blocked again at its next ban over threshold; 0 = never"},
	{"idle-unblock-manual", Bool, []string{"false"}, "let idle-unblock remove manual bans and ranges too"},
	// Export of the blocklist for external firewalls (package export).
	{"export-listen", String, nil, "address serving the blocklist to other firewalls over HTTP, e.g. 127.0.0.1:9733 (default: off)"},
	{"export-token-file", String, nil, "file (mode 0600) holding the token export clients send as Bearer or as Basic password"},
	{"export-allow", Strings, nil, "client addresses/CIDRs allowed to fetch the export without the token"},
	{"backend", String, []string{"ipset"}, "ipset (ipsets + iptables rules) or nftables (table inet <set-name>, native sets)"},
	{"iptables-variant", String, []string{"auto"}, "iptables the ipset backend's rules go through: auto (iptables as installed), nft (iptables-nft) or legacy (iptables-legacy)"},
	{"fleet-redis", String, nil, "fleet meeting point: redis://HOST:PORT, rediss://HOST:PORT, unix:///PATH/redis.sock or redis-sentinel://S1,S2,S3/MASTER (default: off)"},
	{"fleet-name", String, []string{"default"}, "name of the fleet; its Redis keys are rcv:{NAME}:*"},
	{"fleet-host", String, nil, "this host's name in the fleet (default: the hostname)"},
	{"fleet-user", String, nil, "Redis ACL user of this host (recidivist fleet acl prints its ACL line)"},
	{"fleet-password-file", String, nil, "file of mode 0600 holding the Redis password (never a flag value)"},
	{"fleet-tls-ca", String, nil, "PEM file of the CA that signed the Redis server's certificate (rediss://)"},
	{"fleet-accept", Strings, []string{"block", "unban"}, "remote records this host applies: block, unban, or both"},
	// Notifications of blocks and unblocks (package notify).
	{"notify-exec", Strings, nil, "program (absolute path) and arguments run on new blocks/unblocks, events as JSON on stdin; never through a shell (default: off)"},
	{"notify-exec-timeout", Duration, []string{"10s"}, "notify-exec is killed (its process group) after this long"},
	{"notify-exec-user", String, nil, "run notify-exec as this user, e.g. nobody (default: the daemon's user)"},
	{"notify-url", String, nil, "webhook URL POSTed new blocks/unblocks, e.g. a Slack incoming webhook (default: off)"},
	{"notify-format", String, []string{"json"}, "body of notify-url: json (array of events), slack ({\"text\": …}, also Mattermost, Rocket.Chat) or text"},
	{"notify-header", Strings, nil, "header sent to notify-url, like \"Authorization: Bearer TOKEN\" (repeat for several)"},
	{"notify-retry-for", Duration, []string{"1h"}, "how long a failed notification is retried (network errors, 5xx, 408, 429) before it is given up"},
	{"notify-group-wait", Duration, []string{"30s"}, "events within this time of the first go out as one notification"},
	{"notify-group-max", Int, []string{"50"}, "most events in one notification (a full batch goes out at once)"},
	{"notify-rate", String, []string{"20/h"}, "at most this many notifications, like 20/h; the excess is folded into one digest; 0 = no limit"},
	// Net escalation (daemon/net.go).
	{"net-escalation", Bool, []string{"false"}, "block a whole network once enough of its addresses are blocked offenders (see net-prefix-*, net-threshold-*)"},
	{"net-prefix-v4", Int, []string{"24"}, "IPv4 network blocked by net escalation, as a prefix length (16 to 31)"},
	{"net-threshold-v4", Int, []string{"3"}, "distinct blocked automatic offenders of one IPv4 network that make net escalation block it"},
	{"net-prefix-v6", Int, []string{"64"}, "IPv6 network blocked by net escalation, as a prefix length (48 to 127)"},
	{"net-threshold-v6", Int, []string{"2"}, "distinct blocked automatic offenders of one IPv6 network that make net escalation block it"},
	{"net-max-ranges", Int, []string{"1000"}, "most networks net escalation blocks at once"},
}

// Values lists the keys whose value is one of a fixed set, with the set:
// the shell completion offers these values and recidivist.toml(5) names
// them. Load accepts each of them (a test holds the two together).
var Values = map[string][]string{
	"target":           {"DROP", "REJECT"},
	"log-level":        {"debug", "info", "warn", "error"},
	"log-format":       {"text", "json"},
	"backend":          {"ipset", "nftables"},
	"iptables-variant": {"auto", "nft", "legacy"},
	"notify-format":    {"json", "slack", "text"},
}

// DefaultPath is where the configuration file is read from when --config is
// not given. A missing file at the default path is not an error.
const DefaultPath = "/etc/recidivist/recidivist.toml"

// configFlag is the --config flag every command that reads settings carries.
// It is built afresh for each command: urfave/cli writes an env var's value
// into the flag it applies, so a shared flag would carry one run's
// RECIDIVIST_CONFIG into the next app built in the same process.
func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "config",
		Usage:   "TOML configuration file",
		Value:   DefaultPath,
		EnvVars: []string{"RECIDIVIST_CONFIG"},
	}
}

// KeyNamed returns the key called name, and whether there is one.
func KeyNamed(name string) (Key, bool) { return lookup(name) }

func lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Flags returns the flags for the named keys (all keys when none are named),
// each wired to its environment variable and to the TOML file through altsrc,
// followed by --config.
func Flags(names ...string) []cli.Flag {
	var ks []Key
	if len(names) == 0 {
		ks = Keys
	}
	for _, n := range names {
		k, ok := lookup(n)
		if !ok {
			panic("config: no key " + n) // a programming error caught by any test that builds the app
		}
		ks = append(ks, k)
	}
	flags := make([]cli.Flag, 0, len(ks)+1)
	for _, k := range ks {
		flags = append(flags, flag(k))
	}
	return append(flags, configFlag())
}

func flag(k Key) cli.Flag {
	env := []string{k.Env()}
	def := ""
	if len(k.Default) > 0 {
		def = k.Default[0]
	}
	const cat = "settings (flag > env > config file > default)"
	switch k.Kind {
	case Strings:
		f := &cli.StringSliceFlag{Name: k.Name, Usage: k.Usage, EnvVars: env, Category: cat}
		if len(k.Default) > 0 {
			f.Value = cli.NewStringSlice(k.Default...)
		}
		return altsrc.NewStringSliceFlag(f)
	case Int:
		return altsrc.NewIntFlag(&cli.IntFlag{Name: k.Name, Usage: k.Usage, EnvVars: env, Category: cat, Value: atoi(def)})
	case Bool:
		return altsrc.NewBoolFlag(&cli.BoolFlag{Name: k.Name, Usage: k.Usage, EnvVars: env, Category: cat, Value: def == "true"})
	default: // String and Duration: durations are parsed by Load, so they accept "1w2d"
		return altsrc.NewStringFlag(&cli.StringFlag{Name: k.Name, Usage: k.Usage, EnvVars: env, Category: cat, Value: def})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
