package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// response is what curl got.
type response struct {
	code    int
	headers string // raw, lower-cased
	body    string
}

// curl fetches url with curl from address src inside namespace ns, as a
// firewall appliance would; args are more curl options.
func curl(t *testing.T, ns string, src netip.Addr, url string, args ...string) response {
	t.Helper()
	resp, err := tryCurl(t, ns, src, url, args...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tryCurl is curl returning an error when no HTTP answer came (the server
// not listening yet, say).
func tryCurl(t *testing.T, ns string, src netip.Addr, url string, args ...string) (response, error) {
	t.Helper()
	dir := t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	cmdArgs := append([]string{"-s", "--max-time", "30", "--interface", src.String(), "-o", body, "-D", hdr, "-w", "%{http_code}"}, args...)
	cmd := exec.Command("ip", inNS(ns, "curl", append(cmdArgs, url)...)...)
	out, err := cmd.Output()
	if err != nil {
		return response{}, fmt.Errorf("curl %s from %s: %v (%s)", url, src, err, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return response{}, fmt.Errorf("curl %s: status %q", url, out)
	}
	h, _ := os.ReadFile(hdr) // no headers file when nothing came back: empty
	b, _ := os.ReadFile(body)
	return response{code: code, headers: strings.ToLower(string(h)), body: string(b)}, nil
}

func (r response) header(name string) string {
	for _, line := range strings.Split(r.headers, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == strings.ToLower(name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestExport_serves_the_blocklist_to_other_firewalls_over_http runs the
// built daemon with export-listen on the server namespace's LAN address
// and fetches the list with curl from the client namespace: every format,
// every auth path, ETag/304, gzip, and a 503 (never an empty list) when the
// mirror cannot be read, while blocking goes on.
func TestExport_serves_the_blocklist_to_other_firewalls_over_http(t *testing.T) {
	var (
		srv4, srv6 = netip.MustParseAddr("10.232.0.1"), netip.MustParseAddr("fd00:e2f::1")
		stranger   = netip.MustParseAddr("10.232.0.10")
		allowed    = netip.MustParseAddr("10.232.0.11")
		offender   = netip.MustParseAddr("10.232.0.20")
	)
	const token = "e2e-export-token-0123456789"
	tokFile := filepath.Join(t.TempDir(), "export-token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listenAddr := srv4.String() + ":9733"
	r := newRig(t, "exp", srv4, srv6, []netip.Addr{stranger, allowed, offender},
		"--export-listen", listenAddr, "--export-token-file", tokFile, "--export-allow", allowed.String()+"/32")
	// Entries before the daemon starts: two manual bans and a range.
	r.command("ban", "192.0.2.5")
	r.command("ban", "192.0.2.4")
	r.command("ban", "2001:db8::5")
	r.command("ban", "198.51.100.0/24")
	r.startDaemon()
	base := "http://" + listenAddr
	bearer := []string{"-H", "Authorization: Bearer " + token}
	eventually(t, time.Now(), 30*time.Second, "the export answers", r.d, func() (bool, error) {
		r.d.alive(t)
		resp, err := tryCurl(t, r.tp.cli, allowed, base+"/blocklist")
		return err == nil && resp.code == 200, nil // not listening yet: try again
	})

	lines := func(resp response) []string {
		t.Helper()
		ls := strings.Split(strings.TrimSuffix(resp.body, "\n"), "\n")
		if !strings.HasPrefix(ls[0], "# recidivist blocklist generated=") {
			t.Fatalf("first line %q, want the # header", ls[0])
		}
		return ls[1:]
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"plain_lists_every_entry", "/blocklist", []string{"192.0.2.5", "192.0.2.4", "2001:db8::5", "198.51.100.0/24"}},
		{"v4_only", "/blocklist/v4", []string{"192.0.2.5", "192.0.2.4", "198.51.100.0/24"}},
		{"v6_only", "/blocklist/v6", []string{"2001:db8::5"}},
		{"aggregate_merges_the_two_addresses", "/blocklist/v4?aggregate=1", []string{"192.0.2.4/31", "198.51.100.0/24"}},
		{"limit_keeps_the_newest", "/blocklist?limit=1", []string{"198.51.100.0/24"}},
		{"mikrotik_adds_each_entry_with_a_timeout", "/blocklist/v6?format=mikrotik", []string{
			":do { /ipv6 firewall address-list add list=recidivist address=2001:db8::5 timeout=2d } on-error={ /ipv6 firewall address-list set [find list=recidivist address=2001:db8::5] timeout=2d }"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := curl(t, r.tp.cli, stranger, base+tc.path, bearer...)
			if resp.code != 200 {
				t.Fatalf("status %d: %s", resp.code, resp.body)
			}
			if got := lines(resp); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	t.Run("mirror_gives_the_mirror_lines", func(t *testing.T) {
		resp := curl(t, r.tp.cli, stranger, base+"/blocklist/v4?format=mirror", bearer...)
		got := lines(resp)
		if len(got) != 3 || !strings.HasPrefix(got[0], "192.0.2.5 # recidivist ") || !strings.Contains(got[0], " manual") {
			t.Errorf("mirror lines %q", got)
		}
	})
	t.Run("json_parses", func(t *testing.T) {
		resp := curl(t, r.tp.cli, stranger, base+"/blocklist?format=json", bearer...)
		if resp.code != 200 || !strings.HasPrefix(resp.body, `{"generated":`) || !strings.Contains(resp.body, `"count":4`) || !strings.Contains(resp.body, `"address":"2001:db8::5"`) {
			t.Errorf("status %d body %s", resp.code, resp.body)
		}
	})

	for _, tc := range []struct {
		name string
		src  netip.Addr
		url  string // default: base + "/blocklist"
		args []string
		want int
	}{
		{"no_credentials_from_a_stranger_is_401", stranger, "", nil, 401},
		{"a_bad_bearer_token_is_401", stranger, "", []string{"-H", "Authorization: Bearer nope"}, 401},
		{"the_bearer_token_is_200", stranger, "", bearer, 200},
		{"basic_with_the_token_as_password_is_200", stranger, "", []string{"-u", "opnsense:" + token}, 200},
		{"the_token_in_the_url_userinfo_is_200_as_pfsense_sends_it", stranger, "http://pfsense:" + token + "@" + listenAddr + "/blocklist/v4", nil, 200},
		{"basic_with_a_wrong_password_is_401", stranger, "", []string{"-u", "pfsense:wrong"}, 401},
		{"an_allowed_address_without_token_is_200", allowed, "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = base + "/blocklist"
			}
			resp := curl(t, r.tp.cli, tc.src, url, tc.args...)
			if resp.code != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.code, tc.want, resp.body)
			}
			if tc.want != 200 && strings.Contains(resp.body, "192.0.2.5") {
				t.Errorf("refused, yet the list came: %s", resp.body)
			}
		})
	}

	t.Run("etag_gives_304_until_the_list_changes", func(t *testing.T) {
		first := curl(t, r.tp.cli, stranger, base+"/blocklist", bearer...)
		tag := first.header("etag")
		if tag == "" {
			t.Fatalf("no ETag in %q", first.headers)
		}
		if resp := curl(t, r.tp.cli, stranger, base+"/blocklist", append(bearer, "-H", "If-None-Match: "+tag)...); resp.code != 304 || resp.body != "" {
			t.Fatalf("status %d body %q, want an empty 304", resp.code, resp.body)
		}
		r.command("ban", "203.0.113.9")
		resp := curl(t, r.tp.cli, stranger, base+"/blocklist", append(bearer, "-H", "If-None-Match: "+tag)...)
		if resp.code != 200 || !strings.Contains(resp.body, "203.0.113.9\n") {
			t.Fatalf("after a ban: status %d body %q, want 200 with the new entry", resp.code, resp.body)
		}
	})
	t.Run("gzip_when_asked", func(t *testing.T) {
		resp := curl(t, r.tp.cli, stranger, base+"/blocklist", append(bearer, "-H", "Accept-Encoding: gzip")...)
		if resp.code != 200 || resp.header("content-encoding") != "gzip" {
			t.Fatalf("status %d headers %q", resp.code, resp.headers)
		}
		zr, err := gzip.NewReader(bytes.NewReader([]byte(resp.body)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil || !strings.HasPrefix(string(b), "# recidivist blocklist") || !strings.Contains(string(b), "198.51.100.0/24\n") {
			t.Errorf("gunzipped %q, %v", b, err)
		}
	})

	t.Run("an_unreadable_mirror_is_503_and_blocking_goes_on", func(t *testing.T) {
		mirror := filepath.Join(r.state, "blocklist")
		if err := os.Chmod(mirror, 0o666); err != nil { // other users could write it: refused
			t.Fatal(err)
		}
		resp := curl(t, r.tp.cli, stranger, base+"/blocklist", bearer...)
		if resp.code != 503 || strings.HasPrefix(resp.body, "#") {
			t.Errorf("status %d body %q, want 503 and no list", resp.code, resp.body)
		}
		if err := os.Chmod(mirror, 0o600); err != nil {
			t.Fatal(err)
		}
		if resp := curl(t, r.tp.cli, stranger, base+"/blocklist", bearer...); resp.code != 200 {
			t.Errorf("mirror safe again: status %d", resp.code)
		}
		// The daemon still blocks: three bans make an offender.
		now := time.Now()
		appendLines(t, r.log, banLine(now, "sshd", offender), banLine(now, "postfix", offender), banLine(now, "nginx", offender))
		r.waitBlocked(offender, now)
		eventually(t, now, 30*time.Second, "the export lists the new offender", r.d, func() (bool, error) {
			return strings.Contains(curl(t, r.tp.cli, allowed, base+"/blocklist").body, offender.String()+"\n"), nil
		})
	})
	r.d.alive(t)
	r.d.term(t)
	if strings.Contains(r.d.out.String(), token) {
		t.Error("the daemon logged the export token")
	}
}

// TestExport_an_address_that_cannot_be_bound_stops_run_at_start: an admin
// who configured an export learns at once that it does not work (exit 1,
// naming export-listen), before any set is made.
func TestExport_an_address_that_cannot_be_bound_stops_run_at_start(t *testing.T) {
	ns := newNamespace(t, "expbind")
	bin := binary(t)
	dir := t.TempDir()
	conf, log := filepath.Join(dir, "empty.toml"), filepath.Join(dir, "fail2ban.log")
	for _, p := range []string{conf, log} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// 192.0.2.1 is no address of the namespace: the bind fails.
	got := runStatus(t, ns, bin, "run", "--config", conf, "--state-dir", filepath.Join(dir, "state"), "--set-name", "rcdvexpb",
		"--log", log, "--export-listen", "192.0.2.1:9733", "--export-allow", "192.0.2.0/24")
	if got.code != 1 || !strings.Contains(got.stderr, "192.0.2.1:9733") || !strings.Contains(got.stderr, "change export-listen") {
		t.Errorf("exit %d, want 1 naming the address and export-listen:\n%s", got.code, got.stderr)
	}
	if out, err := exec.Command("ip", inNS(ns, "ipset", "list", "-n")...).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("the refused run made sets (%v):\n%s", err, out)
	}
}
