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

	"github.com/recidivist/recidivist/config"
)

func TestDoctor_checks_the_notify_hook_and_url(t *testing.T) {
	dir := t.TempDir()
	hook := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name  string
		setup func(*config.Config)
		want  string
	}{
		{"a_safe_hook_is_ok", func(c *config.Config) { c.Notify.Exec = []string{hook("safe", 0o755)} },
			"ok       notify-exec: "},
		{"a_world_writable_hook_is_a_problem", func(c *config.Config) { c.Notify.Exec = []string{hook("ww", 0o777)} },
			"PROBLEM  notify-exec: " + filepath.Join(dir, "ww") + " can be changed by group or others (mode 0777)"},
		{"a_group_writable_hook_is_a_problem", func(c *config.Config) { c.Notify.Exec = []string{hook("gw", 0o775)} },
			"fix: chmod go-w " + filepath.Join(dir, "gw")},
		{"a_hook_that_is_not_executable_is_a_problem", func(c *config.Config) { c.Notify.Exec = []string{hook("nx", 0o644)} },
			"is not executable (mode 0644)"},
		{"a_missing_hook_is_a_problem", func(c *config.Config) { c.Notify.Exec = []string{filepath.Join(dir, "none")} },
			"PROBLEM  notify-exec: "},
		{"an_https_url_is_named_without_its_path", func(c *config.Config) {
			c.Notify.URL, c.Notify.Format = "https://hooks.example.net/services/SECRET?token=x", "slack"
		}, "ok       notify-url: https://hooks.example.net gets notifications (format slack)"},
		{"an_http_url_is_noted", func(c *config.Config) { c.Notify.URL, c.Notify.Format = "http://192.0.2.5/hook", "json" },
			"note     notify-url: http://192.0.2.5 gets notifications (format json) in clear text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w.cfg)
			w.doctor.run()
			out := w.out.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "SECRET") {
				t.Errorf("output shows the URL's secret path:\n%s", out)
			}
		})
	}
}

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
