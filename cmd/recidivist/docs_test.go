package main

import (
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/docgen"
)

//go:generate go test -run ^TestDocs_committed_files_match_a_fresh_generation$ -update

var update = flag.Bool("update", false, "rewrite the generated files under docs/ (make man)")

// generated lists the files under docs/ that internal/docgen writes from the
// command definitions and the key table.
func generated() map[string]string {
	app := newApp(io.Discard, io.Discard)
	return map[string]string{
		"../../docs/man/recidivist.8":           docgen.Manual(app),
		"../../docs/man/recidivist.toml.5":      docgen.ConfigManual(),
		"../../docs/completion/recidivist.bash": docgen.Bash(app),
		"../../docs/completion/_recidivist":     docgen.Zsh(app),
	}
}

// TestDocs_committed_files_match_a_fresh_generation keeps the man pages and
// the completion scripts from drifting from --help: change a command, a flag
// or a key and this fails until `make man` writes them again.
func TestDocs_committed_files_match_a_fresh_generation(t *testing.T) {
	for path, want := range generated() {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("reading %s: %v (make man writes it)", path, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s differs from a fresh generation: run make man and commit the result", path)
		}
	}
}

// TestDocs_man_pages_render_without_warnings renders both pages as man(1)
// would and fails on any warning groff gives (lintian runs the same check).
func TestDocs_man_pages_render_without_warnings(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("man is not installed: %v", err)
		}
		t.Skipf("man is not installed: %v", err)
	}
	for _, page := range []string{"recidivist.8", "recidivist.toml.5"} {
		path := "../../docs/man/" + page
		cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", path)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("man -l %s: %v\n%s", path, err, stderr.String())
		}
		if !strings.Contains(string(out), "NAME") || len(out) < 1000 {
			t.Errorf("man -l %s rendered %d bytes:\n%s", path, len(out), out)
		}
	}
}

// TestDocs_bash_completion_offers_commands_flags_and_fixed_values runs the
// generated script in bash the way bash's completion calls it.
func TestDocs_bash_completion_offers_commands_flags_and_fixed_values(t *testing.T) {
	cases := []struct {
		name  string
		words []string // the last one is the word being completed
		want  []string
		not   []string
	}{
		{"a command from its first letters", []string{"recidivist", "st"}, []string{"status"}, []string{"scan"}},
		{"every command from nothing", []string{"recidivist", ""}, []string{"run", "restore", "check", "teardown", "--version"}, nil},
		{"a command's flag", []string{"recidivist", "scan", "--thr"}, []string{"--threshold"}, nil},
		{"only the command's own flags", []string{"recidivist", "status", "--"}, []string{"--json", "--state-dir"}, []string{"--comment", "--top"}},
		{"the values of target", []string{"recidivist", "run", "--target", ""}, []string{"DROP", "REJECT"}, nil},
		{"a value after --flag=", []string{"recidivist", "run", "--target", "=", "R"}, []string{"REJECT"}, []string{"DROP"}},
		{"the values of log-format", []string{"recidivist", "scan", "--log-format", "j"}, []string{"json"}, []string{"text"}},
		{"nothing for a free value", []string{"recidivist", "run", "--threshold", ""}, nil, []string{"run", "--json"}},
	}
	script, err := filepath.Abs("../../docs/completion/recidivist.bash")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var quoted []string
			for _, w := range tc.words {
				quoted = append(quoted, "'"+w+"'")
			}
			prog := `source "$1"; COMP_WORDS=(` + strings.Join(quoted, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); ` +
				`complete -p recidivist >/dev/null && _recidivist && printf '%s\n' "${COMPREPLY[@]}"`
			out, err := exec.Command("bash", "-c", prog, "bash", script).Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			got := strings.Fields(string(out))
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("completing %q offers %v, not %s", tc.words, got, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(got, n) {
					t.Errorf("completing %q offers %s: %v", tc.words, n, got)
				}
			}
			if tc.want == nil && len(got) > 0 {
				t.Errorf("completing %q offers %v, want nothing", tc.words, got)
			}
		})
	}
}

// TestDocs_zsh_completion_is_valid_zsh parses the generated function with zsh.
func TestDocs_zsh_completion_is_valid_zsh(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("zsh is not installed (.ci/run installs it): %v", err)
		}
		t.Skipf("zsh is not installed: %v", err)
	}
	if out, err := exec.Command("zsh", "-n", "../../docs/completion/_recidivist").CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
}
