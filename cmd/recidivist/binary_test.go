package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/testenv"
)

// TestBinary_built_from_the_checkout runs the binary that `go build` makes in
// this checkout, as a user or the package's test would, rather than run()
// in-process: the version comes from what the Go linker writes into it.
func TestBinary_built_from_the_checkout(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git rev-parse HEAD: %v (CI runs in a git checkout with git installed)", err)
		}
		t.Skipf("not a git checkout, or no git: %v", err)
	}
	commit := strings.TrimSpace(string(head))
	bin := filepath.Join(t.TempDir(), "recidivist")
	// -buildvcs=true: the machine's GOFLAGS may say -buildvcs=false.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runBin := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, stdout.String(), stderr.String()
		case errors.As(err, &exit):
			return exit.ExitCode(), stdout.String(), stderr.String()
		}
		t.Fatalf("running %s: %v", bin, err)
		return 0, "", ""
	}

	t.Run("version_prints_the_commit_and_its_time", func(t *testing.T) {
		if top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
			if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !fi.IsDir() {
				// Go looks for a .git directory; a worktree's .git is a file.
				testenv.SkipOrFail(t, "a git worktree, which go build does not stamp with vcs.revision")
			}
		}
		code, out, errOut := runBin(t, "--version")
		if code != 0 {
			t.Fatalf("--version: exit %d, stderr %q", code, errOut)
		}
		m := regexp.MustCompile(`^recidivist \S+ \(commit ([0-9a-f]{40})(?: with local changes)?, committed (\S+)\)\n$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("--version printed %q, want \"recidivist VERSION (commit HASH[ with local changes], committed TIME)\"", out)
		}
		if m[1] != commit {
			t.Errorf("--version names commit %s, the checkout is at %s", m[1], commit)
		}
		if _, err := time.Parse(time.RFC3339, m[2]); err != nil {
			t.Errorf("--version's time %q is not RFC 3339: %v", m[2], err)
		}
	})

	t.Run("an_unknown_command_exits_2_naming_it_and_listing_the_commands", func(t *testing.T) {
		code, out, errOut := runBin(t, "frobnicate")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		if !strings.Contains(errOut, "unknown command 'frobnicate'") {
			t.Errorf("stderr %q does not say unknown command 'frobnicate'", errOut)
		}
		for _, c := range newApp(nil, nil).Commands {
			if !strings.Contains(errOut, c.Name) {
				t.Errorf("stderr %q does not list the command %s", errOut, c.Name)
			}
		}
		if out != "" {
			t.Errorf("stdout %q, want nothing: the error goes to stderr", out)
		}
	})

	t.Run("a_near_miss_of_a_command_is_suggested", func(t *testing.T) {
		code, _, errOut := runBin(t, "stauts")
		if code != 2 || !strings.Contains(errOut, "did you mean 'status'?") {
			t.Errorf("exit %d, stderr %q; want 2 and did you mean 'status'?", code, errOut)
		}
	})

	t.Run("an_unknown_flag_suggests_the_nearest_one", func(t *testing.T) {
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"scan", "--threshhold", "3", "x.log"}, "--threshhold: did you mean --threshold?"},
			{[]string{"status", "--jsn"}, "--jsn: did you mean --json?"},
			{[]string{"ban", "--state-dri", "/tmp/x", "192.0.2.1"}, "--state-dri: did you mean --state-dir?"},
			{[]string{"--verison"}, "--verison: did you mean --version?"},
		}
		for _, tc := range cases {
			code, _, errOut := runBin(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("recidivist %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
			}
		}
	})

	t.Run("an_unknown_flag_far_from_every_flag_is_named_without_a_guess", func(t *testing.T) {
		code, _, errOut := runBin(t, "scan", "--zzzzzz", "x.log")
		if code != 2 || !strings.Contains(errOut, "unknown flag --zzzzzz") || strings.Contains(errOut, "did you mean") {
			t.Errorf("exit %d, stderr %q; want exit 2 and unknown flag --zzzzzz without a guess", code, errOut)
		}
	})
}
