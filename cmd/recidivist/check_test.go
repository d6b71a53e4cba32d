package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
)

func TestCheck_exits_2_naming_key_value_and_what_is_allowed_for_a_bad_config_file(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", "treshold = 3\n", []string{"treshold", "no such key", "threshold"}},
		{"wrong type", "threshold = \"three\"\n", []string{"threshold", "three"}},
		{"bad duration", "window = \"1fortnight\"\n", []string{"window", "1fortnight", "duration"}},
		{"bad cidr", "ignore = [\"10.0.0.0/33\"]\n", []string{"ignore", "10.0.0.0/33"}},
		{"set name too long", "set-name = \"" + strings.Repeat("x", 31) + "\"\n", []string{"set-name", strings.Repeat("x", 31), "31"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recidivist.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"recidivist", "check", "--config", path}, io.Discard, &stderr)
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

func TestCheck_reports_the_example_config_valid(t *testing.T) {
	example, err := os.ReadFile("../../examples/recidivist.toml")
	if err != nil {
		t.Fatalf("the example config: %v", err)
	}
	// A copy: a checkout made under umask 002 would leave the example
	// group-writable, which recidivist rightly refuses.
	path := filepath.Join(t.TempDir(), "recidivist.toml")
	if err := os.WriteFile(path, example, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		netnstest.Enter(t) // the kernel checks look at a fresh namespace, not the host
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"recidivist", "check", "--config", path, "--state-dir", t.TempDir(), "--fail2ban-config", t.TempDir()}, &out, &errOut)
	if code == 2 || !strings.Contains(out.String(), "ok       config: "+path+" is valid") {
		t.Errorf("check --config examples/recidivist.toml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
