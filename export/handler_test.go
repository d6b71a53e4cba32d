package export

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

var now = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func sample() []blocklist.Entry {
	es := entries("203.0.113.7", "198.51.100.0/24", "2001:db8::1", "192.0.2.1", "192.0.2.9")
	es[0].Added, es[0].Jails, es[0].Bans = now.Add(-3*time.Hour), []string{"sshd", "postfix"}, 3
	es[1].Added, es[1].Manual = now.Add(-2*time.Hour), true
	es[2].Added, es[2].Jails, es[2].Bans, es[2].Expires = now.Add(-time.Hour), []string{"sshd"}, 4, now.Add(90*time.Minute)
	es[3].Added, es[3].Expires = now.Add(-48*time.Hour), now.Add(-time.Minute) // expired: not in force
	es[4].Comment = "hand-written"                                             // no time: oldest
	return es
}

func newTestHandler(src Source, auth Auth) (*Handler, *Metrics) {
	m := NewMetrics()
	return NewHandler(Options{Source: src, Auth: auth, Host: "gw1", Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m}), m
}

func get(t *testing.T, h http.Handler, target string, hdr map[string]string, remote string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if remote != "" {
		r.RemoteAddr = remote
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func fixed(es []blocklist.Entry) Source { return func() ([]blocklist.Entry, error) { return es, nil } }

func TestFormats(t *testing.T) {
	h, _ := newTestHandler(fixed(sample()), Auth{})
	for _, tc := range []struct {
		name, target string
		want         []string // the lines after the header
	}{
		{"plain_lists_every_entry_in_force_one_address_a_line", "/blocklist", []string{"203.0.113.7", "198.51.100.0/24", "2001:db8::1", "192.0.2.9"}},
		{"plain_is_the_default_and_v4_keeps_ipv4_only", "/blocklist/v4?format=plain", []string{"203.0.113.7", "198.51.100.0/24", "192.0.2.9"}},
		{"v6_keeps_ipv6_only", "/blocklist/v6", []string{"2001:db8::1"}},
		{"mirror_gives_the_mirror_lines", "/blocklist/v4?format=mirror", []string{
			"203.0.113.7 # recidivist 2026-12-02T03:00:00Z jails=sshd,postfix bans=3",
			"198.51.100.0/24 # recidivist 2026-12-02T04:00:00Z manual",
			"192.0.2.9 # hand-written"}},
		{"mikrotik_adds_with_a_timeout_and_never_removes", "/blocklist?format=mikrotik", []string{
			":do { /ip firewall address-list add list=recidivist address=203.0.113.7 timeout=2d } on-error={ /ip firewall address-list set [find list=recidivist address=203.0.113.7] timeout=2d }",
			":do { /ip firewall address-list add list=recidivist address=198.51.100.0/24 timeout=2d } on-error={ /ip firewall address-list set [find list=recidivist address=198.51.100.0/24] timeout=2d }",
			":do { /ipv6 firewall address-list add list=recidivist address=2001:db8::1 timeout=1h30m } on-error={ /ipv6 firewall address-list set [find list=recidivist address=2001:db8::1] timeout=1h30m }",
			":do { /ip firewall address-list add list=recidivist address=192.0.2.9 timeout=2d } on-error={ /ip firewall address-list set [find list=recidivist address=192.0.2.9] timeout=2d }"}},
		{"mikrotik_takes_a_list_name_and_timeout", "/blocklist/v4?format=mikrotik&list=bad&timeout=12h&limit=1", []string{
			":do { /ip firewall address-list add list=bad address=198.51.100.0/24 timeout=12h } on-error={ /ip firewall address-list set [find list=bad address=198.51.100.0/24] timeout=12h }"}},
		{"limit_keeps_the_newest_in_mirror_order", "/blocklist?limit=2", []string{"198.51.100.0/24", "2001:db8::1"}},
		{"aggregate_merges_in_the_export", "/blocklist/v4?aggregate=1", []string{"192.0.2.9", "198.51.100.0/24", "203.0.113.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(t, h, tc.target, nil, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", w.Code, w.Body)
			}
			lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
			if !strings.HasPrefix(lines[0], "# recidivist blocklist generated=2026-12-02T06:00:00Z host=gw1 ") {
				t.Errorf("first line %q, want the # header with time and host", lines[0])
			}
			if want := " count=" + itoa(len(tc.want)) + " "; !strings.Contains(lines[0], want) {
				t.Errorf("header %q does not say%s", lines[0], want)
			}
			if got := lines[1:]; strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("body:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestJSONCarriesTheHeaderAsFields(t *testing.T) {
	h, _ := newTestHandler(fixed(sample()), Auth{})
	w := get(t, h, "/blocklist?format=json", nil, "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got struct {
		Generated time.Time `json:"generated"`
		Host      string    `json:"host"`
		Count     int       `json:"count"`
		Entries   []struct {
			Address string     `json:"address"`
			Expires *time.Time `json:"expires"`
			Manual  bool       `json:"manual"`
			Bans    int        `json:"bans"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, w.Body)
	}
	if !got.Generated.Equal(now) || got.Host != "gw1" || got.Count != 4 || len(got.Entries) != 4 {
		t.Fatalf("got %+v", got)
	}
	if e := got.Entries[1]; e.Address != "198.51.100.0/24" || !e.Manual {
		t.Errorf("second entry %+v, want the manual range", e)
	}
	if e := got.Entries[2]; e.Address != "2001:db8::1" || e.Expires == nil || !e.Expires.Equal(now.Add(90*time.Minute)) || e.Bans != 4 {
		t.Errorf("third entry %+v, want the IPv6 offender with its expiry", e)
	}
}

func TestAnEmptyListIsAHeaderOnly200(t *testing.T) {
	h, _ := newTestHandler(fixed(nil), Auth{})
	w := get(t, h, "/blocklist", nil, "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "# recidivist blocklist ") || strings.Count(w.Body.String(), "\n") != 1 {
		t.Errorf("status %d body %q, want 200 with the header line alone", w.Code, w.Body)
	}
}

func TestAnUnreadableMirrorIs503NeverAnEmptyList(t *testing.T) {
	h, m := newTestHandler(func() ([]blocklist.Entry, error) { return nil, errors.New("reading blocklist: permission denied") }, Auth{})
	for _, f := range []string{"plain", "mirror", "mikrotik", "json"} {
		w := get(t, h, "/blocklist?format="+f, nil, "")
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("format=%s: status %d, want 503", f, w.Code)
		}
		if strings.HasPrefix(w.Body.String(), "#") || w.Header().Get("ETag") != "" {
			t.Errorf("format=%s: body %q etag %q looks like a list", f, w.Body, w.Header().Get("ETag"))
		}
	}
	if n := counted(m, resultError); n != 4 {
		t.Errorf("error count %v, want 4", n)
	}
}

func TestAnUnreadableMirrorFileIs503(t *testing.T) {
	// The real source: a mirror other users could write is refused by
	// blocklist.File, and so by the export.
	dir := t.TempDir()
	path := dir + "/blocklist"
	if err := writeFile(path, "192.0.2.1\n", 0o666); err != nil {
		t.Fatal(err)
	}
	f := blocklist.Open(path)
	h, _ := newTestHandler(func() ([]blocklist.Entry, error) { es, _, err := f.Load(); return es, err }, Auth{})
	if w := get(t, h, "/blocklist", nil, ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("world-writable mirror: status %d body %q, want 503", w.Code, w.Body)
	}
}

func TestAuth(t *testing.T) {
	const tok = "s3cret-token"
	allow := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	basic := func(user, pass string) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pass)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	for _, tc := range []struct {
		name   string
		auth   Auth
		hdr    map[string]string
		remote string
		want   int
		result string
	}{
		{"no_auth_configured_lets_everyone_in", Auth{}, nil, "198.51.100.1:4000", 200, resultServed},
		{"a_token_is_required_when_configured", Auth{Token: tok}, nil, "198.51.100.1:4000", 401, resultUnauthorized},
		{"a_bad_bearer_token_is_refused", Auth{Token: tok}, map[string]string{"Authorization": "Bearer wrong"}, "198.51.100.1:4000", 401, resultUnauthorized},
		{"a_prefix_of_the_token_is_refused", Auth{Token: tok}, map[string]string{"Authorization": "Bearer s3cret"}, "198.51.100.1:4000", 401, resultUnauthorized},
		{"the_bearer_token_passes", Auth{Token: tok}, map[string]string{"Authorization": "Bearer " + tok}, "198.51.100.1:4000", 200, resultServed},
		{"basic_with_the_token_as_password_passes_whatever_the_user", Auth{Token: tok}, basic("pfsense", tok), "198.51.100.1:4000", 200, resultServed},
		{"basic_with_a_wrong_password_is_refused", Auth{Token: tok}, basic(tok, "nope"), "198.51.100.1:4000", 401, resultUnauthorized},
		{"an_allowed_address_passes", Auth{Allow: allow}, nil, "192.0.2.77:4000", 200, resultServed},
		{"an_address_outside_the_allow_list_is_forbidden", Auth{Allow: allow}, nil, "198.51.100.1:4000", 403, resultForbidden},
		{"an_ipv4_mapped_client_address_matches_the_ipv4_allow_list", Auth{Allow: allow}, nil, "[::ffff:192.0.2.5]:4000", 200, resultServed},
		{"with_both_the_allow_list_lets_in_without_token", Auth{Token: tok, Allow: allow}, nil, "192.0.2.77:4000", 200, resultServed},
		{"with_both_the_token_lets_in_from_elsewhere", Auth{Token: tok, Allow: allow}, map[string]string{"Authorization": "Bearer " + tok}, "198.51.100.1:4000", 200, resultServed},
		{"with_both_no_token_from_elsewhere_is_refused", Auth{Token: tok, Allow: allow}, nil, "198.51.100.1:4000", 401, resultUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := newTestHandler(fixed(sample()), tc.auth)
			w := get(t, h, "/blocklist", tc.hdr, tc.remote)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tc.want, w.Body)
			}
			if tc.want != 200 && strings.Contains(w.Body.String(), "203.0.113.7") {
				t.Errorf("refused request got the list: %q", w.Body)
			}
			if tc.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge")
			}
			if n := counted(m, tc.result); n != 1 {
				t.Errorf("%s count %v, want 1", tc.result, n)
			}
		})
	}
}

func TestETagAndIfNoneMatch(t *testing.T) {
	es := sample()
	h, m := newTestHandler(func() ([]blocklist.Entry, error) { return es, nil }, Auth{})
	w := get(t, h, "/blocklist", nil, "")
	tag := w.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	if w2 := get(t, h, "/blocklist", map[string]string{"If-None-Match": tag}, ""); w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
		t.Errorf("same list: status %d body %q, want an empty 304", w2.Code, w2.Body)
	}
	if w2 := get(t, h, "/blocklist?format=mirror", map[string]string{"If-None-Match": tag}, ""); w2.Code != http.StatusOK {
		t.Errorf("another format with the plain tag: status %d, want 200", w2.Code)
	}
	if n := counted(m, resultNotModified); n != 1 {
		t.Errorf("not_modified count %v, want 1", n)
	}
	es = append(es, entries("192.0.2.200")...)
	if w2 := get(t, h, "/blocklist", map[string]string{"If-None-Match": tag}, ""); w2.Code != http.StatusOK || !strings.Contains(w2.Body.String(), "192.0.2.200") {
		t.Errorf("changed list: status %d, want 200 with the new entry", w2.Code)
	}
}

func TestGzipWhenAsked(t *testing.T) {
	h, _ := newTestHandler(fixed(sample()), Auth{})
	plain := get(t, h, "/blocklist", nil, "")
	if plain.Header().Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that did not ask")
	}
	w := get(t, h, "/blocklist", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"}, "")
	if w.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers %v, want gzip and Vary", w.Header())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, plain.Body.Bytes()) {
		t.Errorf("gunzipped body %q, want %q", body, plain.Body)
	}
	if w.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Error("the gzip body has the same strong ETag as the plain one")
	}
	if w2 := get(t, h, "/blocklist", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": w.Header().Get("ETag")}, ""); w2.Code != http.StatusNotModified {
		t.Errorf("gzip ETag back: status %d, want 304", w2.Code)
	}
	if w2 := get(t, h, "/blocklist", map[string]string{"Accept-Encoding": "gzip;q=0"}, ""); w2.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it with q=0")
	}
}

func TestBadRequests(t *testing.T) {
	h, m := newTestHandler(fixed(sample()), Auth{})
	for target, want := range map[string]int{
		"/":                                     404,
		"/blocklist/v5":                         404,
		"/blocklist?format=csv":                 400,
		"/blocklist?limit=0":                    400,
		"/blocklist?limit=x":                    400,
		"/blocklist?aggregate=yes":              400,
		"/blocklist?aggregate=1&format=mirror":  400,
		"/blocklist?format=mikrotik&list=a%20b": 400,
		"/blocklist?format=mikrotik&timeout=1s": 400,
	} {
		if w := get(t, h, target, nil, ""); w.Code != want {
			t.Errorf("%s: status %d, want %d", target, w.Code, want)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/blocklist", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", w.Code)
	}
	if n := counted(m, resultBadRequest); n != 10 {
		t.Errorf("bad_request count %v, want 10", n)
	}
}

func TestLimitTakesTheLaterLineAmongEqualTimes(t *testing.T) {
	// Bans within one second carry the same time: the line appended later
	// is the newer.
	es := entries("192.0.2.1", "192.0.2.2", "192.0.2.3")
	for i := range es {
		es[i].Added = now.Add(-time.Minute)
	}
	h, _ := newTestHandler(fixed(es), Auth{})
	w := get(t, h, "/blocklist?limit=2", nil, "")
	if got := strings.SplitN(w.Body.String(), "\n", 2)[1]; got != "192.0.2.2\n192.0.2.3\n" {
		t.Errorf("limit=2 of three equal times gave %q, want the last two lines", got)
	}
}
