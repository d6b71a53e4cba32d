package config_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/config"
)

func tokenFile(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export-token")
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRefusesBadExportSettingsNamingTheKey(t *testing.T) {
	open := tokenFile(t, "tok\n", 0o644)
	empty := tokenFile(t, "  \n", 0o600)
	good := tokenFile(t, "tok\n", 0o600)
	for _, tc := range []struct {
		name    string
		args    []string
		key     string
		allowed string
	}{
		{"a_non_loopback_address_without_token_or_allow_list", []string{"--export-listen", "0.0.0.0:9733"}, "export-listen", "unless export-token-file or export-allow is set"},
		{"every_interface_without_token_or_allow_list", []string{"--export-listen", ":9733"}, "export-listen", "unless export-token-file or export-allow is set"},
		{"a_lan_ipv6_address_without_token_or_allow_list", []string{"--export-listen", "[2001:db8::1]:9733"}, "export-listen", "loopback"},
		{"an_address_without_a_port", []string{"--export-listen", "127.0.0.1"}, "export-listen", "HOST:PORT"},
		{"a_host_name", []string{"--export-listen", "fw.example.org:9733", "--export-token-file", good}, "export-listen", "IP address or \"localhost\""},
		{"a_port_out_of_range", []string{"--export-listen", "127.0.0.1:70000"}, "export-listen", "port from 0 to 65535"},
		{"a_token_file_others_can_read", []string{"--export-token-file", open}, "export-token-file", "chmod 600 " + open},
		{"an_empty_token_file", []string{"--export-token-file", empty}, "export-token-file", "not an empty one"},
		{"a_missing_token_file", []string{"--export-token-file", "/nonexistent/token"}, "export-token-file", "readable file"},
		{"a_bad_allow_entry", []string{"--export-allow", "192.0.2.0/33"}, "export-allow", "address or CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, nil, tc.args...)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if ce.Key != tc.key || !strings.Contains(ce.Allowed, tc.allowed) {
				t.Errorf("error %q, want key %s saying %q", err, tc.key, tc.allowed)
			}
		})
	}
}

func TestLoadAcceptsExportSettings(t *testing.T) {
	good := tokenFile(t, "  s3cret\n", 0o400)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*config.Config) bool
	}{
		{"off_by_default", nil, nil, func(c *config.Config) bool {
			return c.ExportListen == "" && c.ExportToken == "" && c.ExportAllow == nil
		}},
		{"loopback_needs_no_auth", []string{"--export-listen", "127.0.0.1:9733"}, nil, func(c *config.Config) bool { return c.ExportListen == "127.0.0.1:9733" }},
		{"localhost_and_ipv6_loopback_need_no_auth", []string{"--export-listen", "[::1]:9733"}, nil, func(c *config.Config) bool { return c.ExportListen == "[::1]:9733" }},
		{"a_lan_address_with_a_token_file_reads_the_token_trimmed", []string{"--export-listen", "192.0.2.10:9733", "--export-token-file", good}, nil,
			func(c *config.Config) bool { return c.ExportToken == "s3cret" && c.ExportTokenFile == good }},
		{"a_lan_address_with_an_allow_list_from_the_environment", []string{"--export-listen", "0.0.0.0:9733"}, map[string]string{"RECIDIVIST_EXPORT_ALLOW": "192.0.2.1,198.51.100.0/24"},
			func(c *config.Config) bool {
				return reflect.DeepEqual(c.ExportAllow, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("198.51.100.0/24")})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustLoad(t, tc.env, tc.args...)
			if !tc.want(cfg) {
				t.Errorf("got %+v", cfg)
			}
		})
	}
}
