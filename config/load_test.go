package config_test

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/urfave/cli/v2"
)

// productDefaults is the Configuration table of PRODUCT.md, written out by
// hand so that a changed default in config.Keys is caught here.
func productDefaults() *config.Config {
	return &config.Config{
		Logs:              []string{"/var/log/fail2ban.log"},
		JournalMatch:      []string{"_SYSTEMD_UNIT=fail2ban.service"},
		Location:          time.Local,
		Threshold:         3,
		Window:            7 * 24 * time.Hour,
		BanTime:           0,
		Jails:             nil, // all
		ExcludeJails:      []string{"recidive"},
		Ignore:            nil, // loopback is added by the packages that enforce it
		SetName:           "recidivist",
		Chains:            []string{"INPUT"},
		Target:            "DROP",
		Ports:             "", // all
		MaxElem:           1048576,
		StateDir:          "/var/lib/recidivist",
		ReconcileInterval: time.Minute,
		DryRun:            false,
		LogLevel:          slog.LevelInfo,
		LogFormat:         "text",
		MetricsListen:     "", // off
		HitSampleInterval: 15 * time.Minute,
		IdleUnblock:       0, // off
		Backend:           "ipset",
		IPTablesVariant:   "auto",
		Fleet:             config.Fleet{Name: "default", AcceptBlock: true, AcceptUnban: true}, // off: no fleet-redis
		Notify: config.Notify{ // off (no notify-exec, no notify-url)
			ExecTimeout: 10 * time.Second,
			Format:      "json",
			RetryFor:    time.Hour,
			GroupWait:   30 * time.Second,
			GroupMax:    50,
			RateCount:   20,
			RatePer:     time.Hour,
		},
		Net: config.Net{PrefixV4: 24, ThreshV4: 3, PrefixV6: 64, ThreshV6: 2, MaxRanges: 1000}, // off
	}
}

func TestDefaults_are_the_product_defaults_built_from_Keys(t *testing.T) {
	if got, want := config.Defaults(), productDefaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults() = %+v\nwant        %+v", got, want)
	}
	a, b := config.Defaults(), config.Defaults()
	a.Chains[0] = "changed"
	if b.Chains[0] != "INPUT" {
		t.Errorf("two results of Defaults share their slices: changing one changed the other")
	}
}

func TestLoadGivesProductDefaultsWhenNothingIsSet(t *testing.T) {
	t.Run("an_empty_config_file_changes_nothing", func(t *testing.T) {
		path := writeConfig(t, "# nothing set\n")
		got := mustLoad(t, nil, "--config", path)
		want := productDefaults()
		want.File = path
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("no_config_file_at_the_default_path_is_not_an_error", func(t *testing.T) {
		if _, err := os.Stat(config.DefaultPath); err == nil {
			t.Skipf("%s exists on this machine; its settings would be read", config.DefaultPath)
		}
		got := mustLoad(t, nil)
		if want := productDefaults(); !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("a_command_without_a_key_gets_its_default", func(t *testing.T) {
		clearEnv(t)
		var cfg *config.Config
		app := &cli.App{
			Writer: io.Discard, ErrWriter: io.Discard,
			ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{{
				Name:   "scan",
				Flags:  config.Flags("threshold", "window"),
				Before: config.Apply,
				Action: func(c *cli.Context) (err error) { cfg, err = config.Load(c); return err },
			}},
		}
		path := writeConfig(t, "")
		if err := app.Run([]string{"recidivist", "scan", "--config", path, "--threshold", "5"}); err != nil {
			t.Fatal(err)
		}
		want := productDefaults()
		want.File, want.Threshold = path, 5
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got  %+v\nwant %+v", cfg, want)
		}
	})
}

func TestLoadTakesFlagOverEnvOverFileOverDefault(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		get  func(*config.Config) any
		want any
	}{
		// a string key
		{"a_string_key_defaults", "", nil, nil,
			func(c *config.Config) any { return c.SetName }, "recidivist"},
		{"a_string_key_from_the_file_beats_the_default", `set-name = "file"`, nil, nil,
			func(c *config.Config) any { return c.SetName }, "file"},
		{"a_string_key_from_env_beats_the_file", `set-name = "file"`, map[string]string{"RECIDIVIST_SET_NAME": "env"}, nil,
			func(c *config.Config) any { return c.SetName }, "env"},
		{"a_string_key_from_a_flag_beats_env", `set-name = "file"`, map[string]string{"RECIDIVIST_SET_NAME": "env"}, []string{"--set-name", "flag"},
			func(c *config.Config) any { return c.SetName }, "flag"},
		{"the_backend_from_env", "", map[string]string{"RECIDIVIST_BACKEND": "nftables"}, nil,
			func(c *config.Config) any { return c.Backend }, "nftables"},
		{"the_backend_from_a_flag_beats_the_file", `backend = "nftables"`, nil, []string{"--backend", "ipset"},
			func(c *config.Config) any { return c.Backend }, "ipset"},
		// a list key
		{"a_list_key_defaults", "", nil, nil,
			func(c *config.Config) any { return c.Logs }, []string{"/var/log/fail2ban.log"}},
		{"a_list_key_from_the_file_as_a_string", `log = "/x.log"`, nil, nil,
			func(c *config.Config) any { return c.Logs }, []string{"/x.log"}},
		{"a_list_key_from_the_file_as_an_array", `log = ["/x.log", "/y.log"]`, nil, nil,
			func(c *config.Config) any { return c.Logs }, []string{"/x.log", "/y.log"}},
		{"a_list_key_from_env_replaces_the_file", `log = ["/x.log", "/y.log"]`, map[string]string{"RECIDIVIST_LOG": "/e1.log,/e2.log"}, nil,
			func(c *config.Config) any { return c.Logs }, []string{"/e1.log", "/e2.log"}},
		{"a_list_key_given_twice_on_the_command_line_replaces_env_and_file", `log = ["/x.log", "/y.log"]`, map[string]string{"RECIDIVIST_LOG": "/e.log"}, []string{"--log", "/f1.log", "--log", "/f2.log"},
			func(c *config.Config) any { return c.Logs }, []string{"/f1.log", "/f2.log"}},
		{"a_list_key_given_once_on_the_command_line_drops_the_default", "", nil, []string{"--log", "/f.log"},
			func(c *config.Config) any { return c.Logs }, []string{"/f.log"}},
		{"a_list_element_in_the_file_may_hold_a_comma", `log = ["/var/log/a,b.log", "/y.log"]`, nil, nil,
			func(c *config.Config) any { return c.Logs }, []string{"/var/log/a,b.log", "/y.log"}},
		{"a_comma_in_a_flag_separates_values", "", nil, []string{"--exclude-jails", "recidive, sshd"},
			func(c *config.Config) any { return c.ExcludeJails }, []string{"recidive", "sshd"}},
		{"a_list_key_of_addresses_from_the_file", `ignore = ["192.0.2.0/24", "2001:db8::1"]`, nil, nil,
			func(c *config.Config) any { return c.Ignore }, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}},
		// an int key
		{"an_int_key_defaults", "", nil, nil,
			func(c *config.Config) any { return c.Threshold }, 3},
		{"an_int_key_from_the_file_beats_the_default", `threshold = 5`, nil, nil,
			func(c *config.Config) any { return c.Threshold }, 5},
		{"an_int_key_from_env_beats_the_file", `threshold = 5`, map[string]string{"RECIDIVIST_THRESHOLD": "7"}, nil,
			func(c *config.Config) any { return c.Threshold }, 7},
		{"an_int_key_from_a_flag_beats_env", `threshold = 5`, map[string]string{"RECIDIVIST_THRESHOLD": "7"}, []string{"--threshold", "9"},
			func(c *config.Config) any { return c.Threshold }, 9},
		// the other kinds
		{"a_duration_from_the_file_in_fail2ban_units", `window = "1w2d"`, nil, nil,
			func(c *config.Config) any { return c.Window }, 9 * 24 * time.Hour},
		{"a_duration_from_the_file_as_plain_seconds", `ban-time = 600`, nil, nil,
			func(c *config.Config) any { return c.BanTime }, 10 * time.Minute},
		{"a_duration_from_a_flag_beats_the_file", `window = "1w2d"`, nil, []string{"--window", "36h"},
			func(c *config.Config) any { return c.Window }, 36 * time.Hour},
		{"a_bool_from_the_file", `dry-run = true`, nil, nil,
			func(c *config.Config) any { return c.DryRun }, true},
		{"a_bool_from_env_beats_the_file", `dry-run = true`, map[string]string{"RECIDIVIST_DRY_RUN": "false"}, nil,
			func(c *config.Config) any { return c.DryRun }, false},
		{"a_target_is_accepted_in_any_case", `target = "reject"`, nil, nil,
			func(c *config.Config) any { return c.Target }, "REJECT"},
		{"a_zone_for_the_log_timestamps", `log-timezone = "Europe/Berlin"`, nil, nil,
			func(c *config.Config) any { return c.Location.String() }, "Europe/Berlin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--config", writeConfig(t, tt.file)}, tt.args...)
			cfg := mustLoad(t, tt.env, args...)
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadNamesTheKeyTheValueAndWhatIsAllowed(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		args    []string
		key     string
		value   string
		allowed string // a part of Error.Allowed
	}{
		{"an_unknown_key_in_the_file", `colour = "red"`, nil, "colour", "red", "known keys: log, log-timezone"},
		{"a_string_where_an_int_belongs", `threshold = "three"`, nil, "threshold", "three", "an integer"},
		{"a_number_where_a_string_belongs", `set-name = 5`, nil, "set-name", "5", "a string"},
		{"a_list_of_numbers_where_log_paths_belong", `log = [1, 2]`, nil, "log", "[1 2]", "a string or a list of strings"},
		{"a_bad_duration_in_the_file", `window = "1fortnight"`, nil, "window", "1fortnight", "units s m h d w mo y"},
		{"a_bad_duration_on_the_command_line", "", []string{"--reconcile-interval", "5x"}, "reconcile-interval", "5x", "units s m h d w mo y"},
		{"a_zero_window", "", []string{"--window", "0"}, "window", "0", "greater than 0"},
		{"a_threshold_of_zero", "", []string{"--threshold", "0"}, "threshold", "0", "from 1 to 1000"},
		{"a_hit_sample_interval_under_a_second", "", []string{"--hit-sample-interval", "100ms"}, "hit-sample-interval", "100ms", "at least 1s"},
		{"an_idle_unblock_shorter_than_the_sample_interval", `idle-unblock = "5m"`, nil, "idle-unblock", "5m", "at least hit-sample-interval"},
		{"an_idle_unblock_that_is_no_duration", "", []string{"--idle-unblock", "three months"}, "idle-unblock", "three months", "units s m h d w mo y"},
		{"a_prefix_longer_than_32_bits_in_ignore", `ignore = ["10.0.0.0/33"]`, nil, "ignore", "10.0.0.0/33", "CIDR like 192.0.2.0/24"},
		{"a_host_name_in_ignore", "", []string{"--ignore", "example.org"}, "ignore", "example.org", "IPv4/IPv6 address or CIDR"},
		// ban refuses a zone, as no set can hold one: ignore does the same
		// instead of silently widening the entry to every interface.
		{"an_ignored_address_with_a_zone", "", []string{"--ignore", "fe80::1%eth0"}, "ignore", "fe80::1%eth0", "remove the zone %eth0"},
		{"sixteen_ports_are_too_many_for_multiport", "", []string{"--ports", "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"}, "ports", "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "at most 15 ports"},
		{"a_chain_that_reads_as_an_option", "", []string{"--chain", "-F"}, "chain", "-F", "not starting with '-'"},
		{"a_set_name_of_31_characters", "", []string{"--set-name", "abcdefghijklmnopqrstuvwxyz01234"}, "set-name", "abcdefghijklmnopqrstuvwxyz01234", "1 to 30 characters"},
		{"a_set_name_with_a_space", `set-name = "my set"`, nil, "set-name", "my set", "letters, digits"},
		{"an_accept_target", "", []string{"--target", "ACCEPT"}, "target", "ACCEPT", "DROP or REJECT"},
		{"ports_without_a_protocol", "", []string{"--ports", "22,80"}, "ports", "22,80", "PROTO:PORT"},
		{"port_zero", `ports = "tcp:0"`, nil, "ports", "tcp:0", "ports 1-65535"},
		{"a_port_above_65535", "", []string{"--ports", "tcp:22,70000"}, "ports", "tcp:22,70000", "ports 1-65535"},
		{"ports_of_an_unknown_protocol", "", []string{"--ports", "icmp:8"}, "ports", "icmp:8", "proto tcp, udp or sctp"},
		{"a_journal_match_that_is_an_option", `journal-match = ["--since=today"]`, nil, "journal-match", "--since=today", "FIELD=VALUE"},
		{"a_journal_match_in_lower_case", "", []string{"--journal-match", "syslog_identifier=fail2ban"}, "journal-match", "syslog_identifier=fail2ban", "FIELD=VALUE"},
		{"a_relative_journal_directory", "", []string{"--journal-directory", "journal"}, "journal-directory", "journal", "absolute directory path"},
		{"an_unknown_log_timezone", "", []string{"--log-timezone", "Mars/Olympus_Mons"}, "log-timezone", "Mars/Olympus_Mons", "IANA zone name"},
		{"a_relative_state_dir", "", []string{"--state-dir", "var/lib/recidivist"}, "state-dir", "var/lib/recidivist", "absolute directory path"},
		{"an_unknown_log_level", "", []string{"--log-level", "loud"}, "log-level", "loud", "debug, info, warn or error"},
		{"an_unknown_log_format", `log-format = "xml"`, nil, "log-format", "xml", "text or json"},
		{"an_unknown_backend", `backend = "pf"`, nil, "backend", "pf", "ipset or nftables"},
		{"an_unknown_iptables_variant", `iptables-variant = "xtables"`, nil, "iptables-variant", "xtables", "auto, nft or legacy"},
		{"a_chain_nftables_cannot_hook", "", []string{"--backend", "nftables", "--chain", "f2b-sshd"}, "chain", "f2b-sshd", "INPUT, FORWARD or DOCKER-USER"},
		{"a_metrics_address_without_a_port", "", []string{"--metrics-listen", "localhost"}, "metrics-listen", "localhost", "HOST:PORT"},
		{"a_fleet_url_of_another_scheme", `fleet-redis = "http://10.0.0.5:6379"`, nil, "fleet-redis", "http://10.0.0.5:6379", "redis-sentinel://S1,S2,S3/MASTER"},
		{"a_fleet_password_in_the_url", "", []string{"--fleet-redis", "redis://:pw@10.0.0.5"}, "fleet-redis", "redis://:pw@10.0.0.5", "fleet-password-file"},
		{"a_relative_unix_socket", "", []string{"--fleet-redis", "unix://redis.sock"}, "fleet-redis", "unix://redis.sock", "unix:///absolute/path"},
		{"a_sentinel_url_without_its_master", "", []string{"--fleet-redis", "redis-sentinel://s1,s2,s3"}, "fleet-redis", "redis-sentinel://s1,s2,s3", "MASTER"},
		{"a_fleet_name_with_a_brace", `fleet-name = "a}b"`, nil, "fleet-name", "a}b", "letters, digits"},
		{"a_fleet_host_with_a_colon", "", []string{"--fleet-redis", "redis://10.0.0.5", "--fleet-host", "web:1"}, "fleet-host", "web:1", "letters, digits"},
		{"a_relative_password_file", "", []string{"--fleet-password-file", "fleet.pw"}, "fleet-password-file", "fleet.pw", "absolute file path"},
		{"a_ca_for_plain_redis", "", []string{"--fleet-redis", "redis://10.0.0.5", "--fleet-tls-ca", "/etc/ca.pem"}, "fleet-tls-ca", "/etc/ca.pem", "is not TLS"},
		{"an_unknown_fleet_accept", `fleet-accept = ["block", "everything"]`, nil, "fleet-accept", "everything", `"block", "unban" or both`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			_, err := load(t, nil, append([]string{"--config", path}, tt.args...)...)
			if err == nil {
				t.Fatalf("loaded without error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is not a *config.Error", err)
			}
			if ce.Key != tt.key || ce.Value != tt.value {
				t.Errorf("error names %s = %q, want %s = %q", ce.Key, ce.Value, tt.key, tt.value)
			}
			if !strings.Contains(ce.Allowed, tt.allowed) {
				t.Errorf("error says %q is allowed, want it to say %q", ce.Allowed, tt.allowed)
			}
			msg := err.Error()
			for _, part := range []string{tt.key, `"` + tt.value + `"`, tt.allowed, path} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
}

func TestLoadReportsEveryBadKeyAtOnce(t *testing.T) {
	_, err := load(t, nil, "--config", writeConfig(t, ""),
		"--log-timezone", "Nowhere/Land", "--window", "0", "--target", "ACCEPT", "--reconcile-interval", "10ms")
	if err == nil {
		t.Fatal("loaded without error")
	}
	want := map[string]bool{"log-timezone": false, "window": false, "target": false, "reconcile-interval": false}
	for _, e := range unwrapAll(err) {
		var ce *config.Error
		if errors.As(e, &ce) {
			want[ce.Key] = true
		}
	}
	for key, named := range want {
		if !named {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
}

// unwrapAll flattens an errors.Join tree.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

func TestLoadReportsABadDurationOnce(t *testing.T) {
	for _, key := range []string{"window", "reconcile-interval"} {
		t.Run(key+"_that_does_not_parse_is_not_also_called_too_short", func(t *testing.T) {
			_, err := load(t, nil, "--config", writeConfig(t, ""), "--"+key, "5x")
			errs := unwrapAll(err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), err)
			}
			var ce *config.Error
			if !errors.As(errs[0], &ce) || ce.Key != key {
				t.Errorf("error %v does not name %s", errs[0], key)
			}
		})
	}
}

func TestLoadAcceptsTheEdgesOfEachRange(t *testing.T) {
	tests := []struct {
		name string
		args []string
		get  func(*config.Config) any
		want any
	}{
		{"a_set_name_of_30_characters", []string{"--set-name", "abcdefghijklmnopqrstuvwxyz0123"},
			func(c *config.Config) any { return c.SetName }, "abcdefghijklmnopqrstuvwxyz0123"},
		{"a_threshold_of_one", []string{"--threshold", "1"},
			func(c *config.Config) any { return c.Threshold }, 1},
		{"a_threshold_of_a_thousand", []string{"--threshold", "1000"},
			func(c *config.Config) any { return c.Threshold }, 1000},
		{"a_reconcile_interval_of_one_second", []string{"--reconcile-interval", "1s"},
			func(c *config.Config) any { return c.ReconcileInterval }, time.Second},
		{"ports_as_a_list_and_a_range", []string{"--ports", "udp:53,1000:2000"},
			func(c *config.Config) any { return c.Ports }, "udp:53,1000:2000"},
		{"sctp_ports", []string{"--ports", "sctp:65535"},
			func(c *config.Config) any { return c.Ports }, "sctp:65535"},
		{"an_ignored_ipv4_mapped_address_is_unmapped", []string{"--ignore", "::ffff:192.0.2.1"},
			func(c *config.Config) any { return c.Ignore }, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}},
		{"an_ignored_prefix_is_masked", []string{"--ignore", "2001:db8::1/64"},
			func(c *config.Config) any { return c.Ignore }, []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}},
		{"the_iptables_variant_defaults_to_auto", nil,
			func(c *config.Config) any { return c.IPTablesVariant }, "auto"},
		{"the_legacy_iptables_variant_in_capitals", []string{"--iptables-variant", "LEGACY"},
			func(c *config.Config) any { return c.IPTablesVariant }, "legacy"},
		{"several_chains_in_one_flag_value", []string{"--chain", "INPUT,DOCKER-USER"},
			func(c *config.Config) any { return c.Chains }, []string{"INPUT", "DOCKER-USER"}},
		{"a_log_level_in_capitals", []string{"--log-level", "DEBUG"},
			func(c *config.Config) any { return c.LogLevel }, slog.LevelDebug},
		{"an_idle_unblock_of_90_days", []string{"--idle-unblock", "90d"},
			func(c *config.Config) any { return c.IdleUnblock }, 90 * 24 * time.Hour},
		{"idle_unblock_manual", []string{"--idle-unblock-manual"},
			func(c *config.Config) any { return c.IdleUnblockManual }, true},
		{"a_permanent_ban_time_written_as_0s", []string{"--ban-time", "0s"},
			func(c *config.Config) any { return c.BanTime }, time.Duration(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, nil, append([]string{"--config", writeConfig(t, "")}, tt.args...)...)
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadNamesABadEnvironmentVariable(t *testing.T) {
	tests := []struct{ name, env, value string }{
		{"a_word_for_an_int", "RECIDIVIST_THRESHOLD", "three"},
		{"a_word_for_a_bool", "RECIDIVIST_DRY_RUN", "maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, map[string]string{tt.env: tt.value}, "--config", writeConfig(t, ""))
			if err == nil {
				t.Fatalf("%s=%s loaded without error", tt.env, tt.value)
			}
			for _, part := range []string{tt.env, tt.value} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message %q lacks %q", err, part)
				}
			}
		})
	}
}
