package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/config"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}
	return string(b)
}

func TestReadme_mentions_every_command_and_no_other(t *testing.T) {
	doc := readme(t)
	app := newApp(io.Discard, io.Discard)
	have := map[string]bool{}
	for _, c := range app.Commands {
		have[c.Name] = true
		if !strings.Contains(doc, "recidivist "+c.Name) {
			t.Errorf("README.md never mentions `recidivist %s`", c.Name)
		}
	}
	// Every `recidivist WORD` in a command table row or a code line must be a command.
	re := regexp.MustCompile("(?m)(?:^\\| `|^(?:sudo )?|&& |\\./)recidivist ([a-z][a-z-]+)")
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		if !have[m[1]] {
			t.Errorf("README.md mentions `recidivist %s`, which is not a command", m[1])
		}
	}
}

func TestReadme_documents_every_config_key_and_no_other(t *testing.T) {
	doc := readme(t)
	declared := map[string]bool{}
	for _, k := range config.Keys {
		declared[k.Name] = true
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	var missing, unknown []string
	for k := range declared {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !declared[k] && !strings.HasPrefix(k, "recidivist") {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	if len(missing) > 0 {
		t.Errorf("config keys missing from README.md's configuration table: %v", missing)
	}
	if len(unknown) > 0 {
		t.Errorf("README.md's configuration table has keys that do not exist: %v", unknown)
	}
}

func TestHelp_every_command_has_a_summary_a_description_and_an_example(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, c := range app.Commands {
		t.Run(c.Name, func(t *testing.T) {
			if c.Usage == "" || strings.Contains(c.Usage, "\n") {
				t.Errorf("Usage %q: want a one-line summary", c.Usage)
			}
			if len(c.Description) < 80 {
				t.Errorf("Description too short: %q", c.Description)
			}
			if !strings.Contains(c.Description, "Example") || !strings.Contains(c.Description, "recidivist "+c.Name) {
				t.Errorf("Description has no example of `recidivist %s`", c.Name)
			}
			var out bytes.Buffer
			if code := run(context.Background(), []string{"recidivist", c.Name, "--help"}, &out, io.Discard); code != 0 {
				t.Fatalf("recidivist %s --help exited %d", c.Name, code)
			}
			if !strings.Contains(out.String(), c.Usage) || !strings.Contains(out.String(), "--") {
				t.Errorf("--help output lacks the summary or the flags:\n%s", out.String())
			}
		})
	}
}

func TestVersion_prints_version_and_commit(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"recidivist", "--version"}, &out, io.Discard); code != 0 {
		t.Fatalf("--version exited %d", code)
	}
	if !regexp.MustCompile(`^recidivist \S+ \(commit \S+\)\n$`).MatchString(out.String()) {
		t.Errorf("--version printed %q, want \"recidivist VERSION (commit COMMIT)\"", out.String())
	}
}

func TestExitStatus_bad_usage_and_bad_config_exit_2_naming_the_key(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"scan", "--no-such-flag", "x.log"}, []string{"no-such-flag"}},
		{"bad duration", []string{"scan", "--window", "1fortnight", "x.log"}, []string{"window", "1fortnight", "duration"}},
		{"bad threshold", []string{"scan", "--threshold", "0", "x.log"}, []string{"threshold", "0"}},
		{"bad cidr", []string{"scan", "--ignore", "10.0.0.1/40", "x.log"}, []string{"ignore", "10.0.0.1/40"}},
		{"long set name", []string{"restore", "--state-dir", dir, "--set-name", strings.Repeat("s", 31)}, []string{"set-name", strings.Repeat("s", 31), "31"}},
		// Kernel-object settings are refused at load, each naming its own
		// key and value (not one key "set-name/chain/target/ports" quoting
		// the set name).
		{"too many ports", []string{"restore", "--state-dir", dir, "--ports", "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"}, []string{`invalid ports = "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"`, "at most 15"}},
		{"a chain like an option", []string{"ban", "--state-dir", dir, "--chain=-F", "192.0.2.1"}, []string{`invalid chain = "-F"`}},
		{"scan without files", []string{"scan"}, []string{"scan needs"}},
		{"ban without address", []string{"ban", "--state-dir", dir}, []string{"ban needs"}},
		{"ban of everything", []string{"ban", "--state-dir", dir, "0.0.0.0/0"}, []string{"0.0.0.0/0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"recidivist"}, tc.args...), io.Discard, &stderr)
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

// Native nft rules cannot match ipsets (nft answers "No such file or
// directory"): the README must not promise it, and must point nftables
// hosts at the nftables backend instead.
func TestReadme_sends_nftables_hosts_to_the_nftables_backend_not_to_the_ipsets(t *testing.T) {
	doc := readme(t)
	if regexp.MustCompile(`(?i)nftables\s+ruleset\s+you\s+can\s+(also\s+)?reference\s+the\s+sets`).MatchString(doc) {
		t.Error("README.md says a pure nftables ruleset can reference the ipsets; nft rules cannot match ipsets")
	}
	for _, want := range []string{"## nftables", `backend = "nftables"`, "recidivist migrate --to nftables", "cannot match ipsets"} {
		if !strings.Contains(doc, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
}

func TestReadme_has_a_section_per_firewall_stack_and_the_ufw_recipe_as_shipped(t *testing.T) {
	doc := readme(t)
	for _, want := range []string{"## Every firewall stack", "**Plain iptables and iptables-nft.**", "**nftables.**", "**firewalld.**", "**ufw.**", "MANAGE_BUILTINS", "**Docker with iptables.**", "**Docker with nftables**", "iptables-variant", "PENDING"} {
		if !strings.Contains(doc, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	recipe, err := os.ReadFile(filepath.Join("..", "..", "examples", "ufw", "after.init"))
	if err != nil {
		t.Fatal(err)
	}
	const line = "/usr/local/bin/recidivist restore --rules-only"
	if !strings.Contains(string(recipe), line) || !strings.Contains(doc, line) || !strings.Contains(doc, "examples/ufw/after.init") {
		t.Errorf("README.md and examples/ufw/after.init do not both run %q", line)
	}
}
