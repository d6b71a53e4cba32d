package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/statedir"
)

// fleetKeys are the settings every fleet command reads.
var fleetKeys = []string{"fleet-redis", "fleet-name", "fleet-host", "fleet-user", "fleet-password-file", "fleet-tls-ca", "fleet-accept", "log-level", "log-format"}

func fleetCommand() *cli.Command {
	return &cli.Command{
		Name:  "fleet",
		Usage: "set up, inspect, and print the least-privilege Redis ACL for fleet sharing",
		Description: "A fleet is several hosts that count fail2ban's bans together and share one blocklist\n" +
			"through Redis 7 (fleet-redis). Redis is a meeting point, never the only copy: each\n" +
			"host's mirror stays its truth and nothing local waits on Redis.\n\n" +
			"Examples:\n" +
			"   recidivist fleet acl --fleet-user rcv-web1      # give this line to the Redis admin\n" +
			"   recidivist fleet init                           # store threshold, window, ban-time once\n" +
			"   recidivist fleet status --json",
		Subcommands: []*cli.Command{fleetInitCommand(), fleetStatusCommand(), fleetACLCommand()},
	}
}

func fleetInitCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "init",
		Usage: "store the fleet's rule (threshold, window, ban-time) in Redis",
		Description: "init writes this host's threshold, window and ban-time as the fleet's one rule\n" +
			"(rcv:{NAME}:cfg). Every host counts with it. An existing different rule is kept and\n" +
			"reported unless --force replaces it.\n\n" +
			"Examples:\n" +
			"   recidivist fleet init --fleet-redis redis://10.0.0.5:6379 --threshold 3 --window 1w\n" +
			"   recidivist fleet init --force --window 2w",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "replace a different rule already stored"}},
		Action: func(c *cli.Context) error {
			cfg, f, err := dialFleet(c)
			if err != nil {
				return err
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			rule := fleet.Rule{Threshold: cfg.Threshold, Window: cfg.Window, BanTime: cfg.BanTime}
			got, err := f.Init(ctx, rule, c.Bool("force"))
			if errors.Is(err, fleet.ErrRuleDiffers) {
				return fmt.Errorf("fleet %q already counts with threshold %d, window %s, ban-time %s (this host: %d, %s, %s): "+
					"run recidivist fleet init --force to replace it for every host, or set this host's keys to match",
					cfg.Fleet.Name, got.Threshold, config.FormatDuration(got.Window), config.FormatDuration(got.BanTime),
					rule.Threshold, config.FormatDuration(rule.Window), config.FormatDuration(rule.BanTime))
			}
			if err != nil {
				return fleetError(cfg, err)
			}
			fmt.Fprintf(c.App.Writer, "fleet %q at %s counts with threshold %d, window %s, ban-time %s\n",
				cfg.Fleet.Name, cfg.Fleet.Redis, got.Threshold, config.FormatDuration(got.Window), config.FormatDuration(got.BanTime))
			return nil
		},
	}, append([]string{"threshold", "window", "ban-time"}, fleetKeys...)...)
}

// fleetStatusJSON is the stable JSON form of `fleet status`.
type fleetStatusJSON struct {
	Fleet      string            `json:"fleet"`
	Redis      string            `json:"redis"`
	Host       string            `json:"host"`
	Connected  bool              `json:"connected"`
	Error      string            `json:"error,omitempty"`
	LatencyMS  float64           `json:"latency_ms"`
	Rule       *fleetRuleJSON    `json:"rule"` // null: not initialised
	Changes    int64             `json:"changes"`
	StreamLen  int64             `json:"stream_entries"`
	LastChange *time.Time        `json:"last_change,omitempty"`
	Acked      map[string]uint64 `json:"hosts_acknowledged"`
	SkewMS     float64           `json:"clock_skew_ms"`
	// Link is this host's daemon's link to the fleet, as it last saved
	// it in state-dir (absent when it never ran with a fleet).
	Link *daemon.FleetLink `json:"link,omitempty"`
	// daemonRunning says whether Link is live or left by a stopped daemon.
	daemonRunning bool
}

type fleetRuleJSON struct {
	Threshold int    `json:"threshold"`
	Window    string `json:"window"`
	BanTime   string `json:"ban_time"`
}

func fleetStatusCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "status",
		Usage: "show the fleet as Redis sees it: reachable, rule, changes, hosts, clock skew",
		Description: "status connects to fleet-redis with this host's credentials and shows whether it\n" +
			"answers (and how fast), the fleet's rule, the changes accepted and the newest one's age,\n" +
			"each host's acknowledged position, and the clock skew against Redis TIME (hosts must\n" +
			"run NTP). Exit 0 when Redis answers, 1 when it does not.\n\n" +
			"Examples:\n" +
			"   recidivist fleet status\n" +
			"   recidivist fleet status --json | jq .hosts_acknowledged",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}},
		Action: func(c *cli.Context) error {
			cfg, f, err := dialFleet(c)
			if err != nil {
				return err
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(c.Context, 15*time.Second)
			defer cancel()
			in, err := f.Info(ctx)
			st := fleetStatusJSON{Fleet: cfg.Fleet.Name, Redis: cfg.Fleet.Redis, Host: cfg.Fleet.Host, Connected: err == nil, Acked: in.Acked}
			if err != nil {
				st.Error = fleetError(cfg, err).Error()
			} else {
				st.LatencyMS = float64(in.Latency.Microseconds()) / 1000
				st.Changes, st.StreamLen = in.Changes, in.StreamLen
				st.SkewMS = float64(in.Skew.Microseconds()) / 1000
				if in.Rule != nil {
					st.Rule = &fleetRuleJSON{in.Rule.Threshold, config.FormatDuration(in.Rule.Window), config.FormatDuration(in.Rule.BanTime)}
				}
				if !in.LastAt.IsZero() {
					t := in.LastAt.UTC()
					st.LastChange = &t
				}
			}
			if st.Acked == nil {
				st.Acked = map[string]uint64{}
			}
			if l, ok, err := daemon.ReadFleetLink(cfg.StateDir); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "recidivist: reading the daemon's fleet link: %v\n", err)
			} else if ok {
				st.Link = &l
				_, st.daemonRunning, _ = statedir.ReadHolder(cfg.StateDir) // not running when it cannot be read
			}
			if c.Bool("json") {
				if err := writeJSON(c.App.Writer, st); err != nil {
					return err
				}
			} else {
				printFleetStatus(c.App.Writer, st)
			}
			if !st.Connected {
				return cli.Exit("", 1)
			}
			return nil
		},
	}, append([]string{"state-dir"}, fleetKeys...)...)
}

func printFleetStatus(w io.Writer, st fleetStatusJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "fleet:\t%s (this host: %s)\n", st.Fleet, st.Host)
	if st.Link != nil {
		defer func() {
			tw.Flush()
			printFleetLink(w, *st.Link, st.daemonRunning, time.Now())
		}()
	}
	if !st.Connected {
		fmt.Fprintf(tw, "redis:\t%s: disconnected: %s\n", st.Redis, st.Error)
		return
	}
	fmt.Fprintf(tw, "redis:\t%s: connected, ping %.2f ms\n", st.Redis, st.LatencyMS)
	if st.Rule == nil {
		fmt.Fprintf(tw, "rule:\tnot set: run recidivist fleet init\n")
	} else {
		fmt.Fprintf(tw, "rule:\tthreshold %d, window %s, ban-time %s\n", st.Rule.Threshold, st.Rule.Window, st.Rule.BanTime)
	}
	last := "none"
	if st.LastChange != nil {
		last = fmt.Sprintf("%s (%s ago)", st.LastChange.Format(time.RFC3339), time.Since(*st.LastChange).Round(time.Second))
	}
	fmt.Fprintf(tw, "changes:\t%d accepted, %d kept in the stream, last %s\n", st.Changes, st.StreamLen, last)
	var hosts []string
	for h, n := range st.Acked {
		hosts = append(hosts, fmt.Sprintf("%s=%d", h, n))
	}
	slices.Sort(hosts)
	if len(hosts) == 0 {
		hosts = []string{"none yet"}
	}
	fmt.Fprintf(tw, "hosts:\t%s\n", strings.Join(hosts, " "))
	skew := fmt.Sprintf("%+.1f ms", st.SkewMS)
	if st.SkewMS > 1000 || st.SkewMS < -1000 {
		skew += ": more than 1s, run NTP on this host and on Redis's"
	}
	fmt.Fprintf(tw, "clock skew:\t%s\n", skew)
}

func fleetACLCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "acl",
		Usage: "print the Redis ACL SETUSER line that gives fleet-user exactly what the fleet needs",
		Description: "acl prints one ACL SETUSER command for the Redis admin: the user fleet-user may touch\n" +
			"only rcv:{fleet-name}:* and run only the commands the fleet sends (no FLUSHALL, CONFIG,\n" +
			"KEYS or DEL). With fleet-password-file the line carries the password's SHA-256, never\n" +
			"the password; without, replace CHANGE-ME. With a redis-sentinel:// fleet-redis it also\n" +
			"prints the user line for each sentinel.conf (the hosts ask the sentinels as fleet-user).\n\n" +
			"Examples:\n" +
			"   recidivist fleet acl --fleet-user rcv-web1 --fleet-password-file /etc/recidivist/fleet.password\n" +
			"   recidivist fleet acl --fleet-user rcv-web1   # then paste the line into redis-cli as the admin",
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if cfg.Fleet.User == "" {
				return usageErrorf("fleet-user is not set: give the user to create with --fleet-user NAME (e.g. rcv-%s)", cfg.Fleet.Host)
			}
			pass, err := cfg.Fleet.Options().Password()
			if err != nil {
				return err
			}
			if pass == "" {
				fmt.Fprintln(c.App.ErrWriter, "recidivist: no fleet-password-file: replace >CHANGE-ME with >PASSWORD (and put PASSWORD in a 0600 file on each host)")
			}
			fmt.Fprintln(c.App.Writer, fleet.ACL(cfg.Fleet.Name, cfg.Fleet.User, pass))
			if t, err := fleet.ParseURL(cfg.Fleet.Redis); err == nil && t.Scheme == "redis-sentinel" {
				fmt.Fprintln(c.App.Writer, "# the line above on the primary and on each replica; this one in each sentinel.conf:")
				fmt.Fprintln(c.App.Writer, fleet.SentinelACL(cfg.Fleet.User, pass))
			}
			return nil
		},
	}, fleetKeys...)
}

// dialFleet loads the settings and builds the fleet client; fleet-redis
// must be set.
func dialFleet(c *cli.Context) (*config.Config, *fleet.Redis, error) {
	cfg, err := settings(c)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Fleet.On() {
		return nil, nil, usageErrorf("fleet-redis is not set: give the meeting point with --fleet-redis redis://HOST:PORT or in %s", config.DefaultPath)
	}
	f, err := fleet.Dial(cfg.Fleet.Options())
	if err != nil {
		return nil, nil, err
	}
	return cfg, f, nil
}

// fleetError adds the fix to an error of the meeting point.
func fleetError(cfg *config.Config, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"):
		return fmt.Errorf("fleet-redis %s refused user %q: %w — check fleet-user and fleet-password-file", cfg.Fleet.Redis, cfg.Fleet.User, err)
	case strings.Contains(msg, "NOPERM"):
		return fmt.Errorf("fleet-redis %s: %w — the ACL of %q lacks a command or key: apply the line of recidivist fleet acl", cfg.Fleet.Redis, err, cfg.Fleet.User)
	case strings.Contains(msg, "certificate"):
		return fmt.Errorf("fleet-redis %s: %w — check fleet-tls-ca names the CA that signed the server's certificate", cfg.Fleet.Redis, err)
	}
	return fmt.Errorf("fleet-redis %s: %w — is Redis running and reachable from this host?", cfg.Fleet.Redis, err)
}
