package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/redistest"
)

// fleetArgs are the arguments that point a fleet command at srv, with an
// empty config file so that the machine's own cannot interfere.
func fleetArgs(t *testing.T, srv *redistest.Server, more ...string) []string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "recidivist.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return append([]string{"--config", cfg, "--fleet-redis", srv.URL(), "--fleet-name", "t", "--fleet-host", "web1"}, more...)
}

func TestFleetInitStoresTheRuleOnceAndStatusShowsIt(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	code, out, errOut := invoke(t, append([]string{"fleet", "init"}, fleetArgs(t, srv, "--threshold", "4", "--window", "2w", "--ban-time", "1d")...)...)
	if code != 0 || !strings.Contains(out, "threshold 4, window 2w, ban-time 1d") {
		t.Fatalf("fleet init = %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(t, append([]string{"fleet", "init"}, fleetArgs(t, srv, "--threshold", "3")...)...)
	if code != 1 || !strings.Contains(errOut, "already counts with threshold 4") || !strings.Contains(errOut, "--force") {
		t.Fatalf("fleet init of another rule = %d, want 1 naming the stored rule and --force\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(t, append([]string{"fleet", "status", "--json"}, fleetArgs(t, srv)...)...)
	if code != 0 {
		t.Fatalf("fleet status = %d\n%s%s", code, out, errOut)
	}
	var st fleetStatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("fleet status --json: %v\n%s", err, out)
	}
	if !st.Connected || st.Rule == nil || *st.Rule != (fleetRuleJSON{4, "2w", "1d"}) || st.Fleet != "t" || st.Host != "web1" {
		t.Fatalf("fleet status --json = %+v", st)
	}
	code, out, _ = invoke(t, append([]string{"fleet", "status"}, fleetArgs(t, srv)...)...)
	if code != 0 || !strings.Contains(out, "connected") || !strings.Contains(out, "threshold 4, window 2w, ban-time 1d") {
		t.Fatalf("fleet status = %d\n%s", code, out)
	}
}

func TestFleetCommandsSayWhatIsWrong(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	empty := filepath.Join(t.TempDir(), "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dead := []string{"--config", empty, "--fleet-redis", "redis://127.0.0.1:1"}
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"status_without_fleet_redis_is_bad_usage", []string{"fleet", "status", "--config", empty}, 2, "fleet-redis is not set"},
		{"a_bad_url_is_bad_config", []string{"fleet", "status", "--config", empty, "--fleet-redis", "http://x"}, 2, `invalid fleet-redis = "http://x"`},
		{"an_unreachable_redis_is_a_runtime_failure", append([]string{"fleet", "status"}, dead...), 1, "is Redis running and reachable"},
		{"init_of_an_unreachable_redis_fails", append([]string{"fleet", "init"}, dead...), 1, "connection refused"},
		{"acl_without_a_user_is_bad_usage", []string{"fleet", "acl", "--config", empty}, 2, "--fleet-user NAME"},
		{"a_wrong_password_names_the_keys_to_check", append([]string{"fleet", "status"}, fleetArgs(t, srv, "--fleet-user", "nobody", "--fleet-password-file", passwordFile(t, "wrong"))...), 1, "check fleet-user and fleet-password-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := invoke(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.says) {
				t.Fatalf("%v = %d, want %d saying %q\n%s%s", tc.args, code, tc.code, tc.says, out, errOut)
			}
		})
	}
	for _, sub := range []string{"init", "status", "acl"} {
		code, out, _ := invoke(t, "fleet", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("fleet %s --help = %d without examples:\n%s", sub, code, out)
		}
	}
}

func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fleet.password")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFleetACLPrintsALineThatWorksAndHidesThePassword(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	pw := passwordFile(t, "fleet-s3cret")
	args := fleetArgs(t, srv, "--fleet-user", "rcv-web1", "--fleet-password-file", pw)
	code, out, errOut := invoke(t, append([]string{"fleet", "acl"}, args...)...)
	if code != 0 {
		t.Fatalf("fleet acl = %d\n%s%s", code, out, errOut)
	}
	sum := sha256.Sum256([]byte("fleet-s3cret"))
	if strings.Contains(out+errOut, "fleet-s3cret") || !strings.Contains(out, "#"+hex.EncodeToString(sum[:])) {
		t.Fatalf("fleet acl must carry the password's SHA-256 only:\n%s%s", out, errOut)
	}
	var words []any
	for _, w := range strings.Fields(out) {
		words = append(words, w)
	}
	if _, err := srv.Do(words...); err != nil {
		t.Fatalf("the printed line does not run on redis-server: %v\n%s", err, out)
	}
	for _, sub := range [][]string{{"fleet", "init"}, {"fleet", "status"}} {
		code, out, errOut := invoke(t, append(sub, args...)...)
		if code != 0 {
			t.Fatalf("%v as the ACL user = %d\n%s%s", sub, code, out, errOut)
		}
		if strings.Contains(out+errOut, "fleet-s3cret") {
			t.Fatalf("%v shows the password:\n%s%s", sub, out, errOut)
		}
	}
}

func TestFleetACLForASentinelFleetAlsoPrintsTheSentinelUserLine(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pw := passwordFile(t, "fleet-s3cret")
	code, out, errOut := invoke(t, "fleet", "acl", "--config", empty, "--fleet-redis", "redis-sentinel://10.0.0.5:26379,10.0.0.6:26379/rcv",
		"--fleet-user", "rcv-web1", "--fleet-password-file", pw)
	sum := sha256.Sum256([]byte("fleet-s3cret"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ACL SETUSER rcv-web1 ") ||
		!strings.HasPrefix(lines[2], "user rcv-web1 on #"+hex.EncodeToString(sum[:])+" resetchannels &+switch-master -@all ") ||
		!strings.Contains(lines[2], "+sentinel|get-master-addr-by-name") || strings.Contains(out+errOut, "fleet-s3cret") {
		t.Fatalf("fleet acl for a sentinel fleet = %d, want the server line, a comment and the sentinel.conf line, no password:\n%s%s", code, out, errOut)
	}
}
