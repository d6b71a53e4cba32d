package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestNotify_bad_settings_exit_2_naming_the_key(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"relative hook", "notify-exec = [\"notify.sh\"]\n", []string{"notify-exec", "notify.sh", "absolute path"}},
		{"url without scheme", "notify-url = \"hooks.example.net/x\"\n", []string{"notify-url", "http"}},
		{"unknown format", "notify-format = \"xml\"\n", []string{"notify-format", "xml", "slack"}},
		{"header without colon", "notify-header = [\"Bearer x\"]\n", []string{"notify-header", "Authorization"}},
		{"bad rate", "notify-rate = \"lots\"\n", []string{"notify-rate", "lots", "20/h"}},
		{"group max 0", "notify-group-max = 0\n", []string{"notify-group-max", "1 to 10000"}},
		{"unknown user", "notify-exec-user = \"no-such-user-here\"\n", []string{"notify-exec-user", "no-such-user-here"}},
		{"timeout too short", "notify-exec-timeout = \"0s\"\n", []string{"notify-exec-timeout", "at least 1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recidivist.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"recidivist", "notify", "test", "--config", path}, io.Discard, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
	}
}

func TestNotify_test_sends_one_synthetic_event_to_the_webhook(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
		auth   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		auth = append(auth, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "notify", "test", "--config", emptyConfig(t),
		"--state-dir", t.TempDir(), "--notify-url", srv.URL, "--notify-header", "Authorization: Bearer s3cret"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || auth[0] != "Bearer s3cret" {
		t.Fatalf("requests %q with Authorization %q, want one with the header", bodies, auth)
	}
	var evs []map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &evs); err != nil || len(evs) != 1 || evs[0]["event"] != "test" {
		t.Errorf("body %q, want a JSON array with one test event", bodies[0])
	}
	if !strings.Contains(stdout.String(), "sent a test notification to notify-url") {
		t.Errorf("stdout %q does not say where it was sent", stdout.String())
	}
}

func TestNotify_test_fails_with_1_when_the_webhook_refuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer srv.Close()
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "notify", "test", "--config", emptyConfig(t), "--state-dir", t.TempDir(), "--notify-url", srv.URL}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "403") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the 403", code, stderr.String())
	}
}

func TestNotify_without_a_notifier_exits_2(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "notify", "test", "--config", emptyConfig(t), "--state-dir", t.TempDir()}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "notify-url") {
		t.Fatalf("exit %d, stderr %q; want 2 naming notify-exec/notify-url", code, stderr.String())
	}
}

// emptyConfig is a config file that sets nothing.
func emptyConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "recidivist.toml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
