package doctor

import (
	"os"
	"path/filepath"
	"strings"
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
			w.run()
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
