package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
)

// outcome is how a command ended: its exit status and its stderr.
type outcome struct {
	code   int
	stderr string
}

// runStatus runs bin with args inside namespace ns and returns its exit
// status and stderr; it kills the command and fails t after 60s, so that a
// command that hangs (a FIFO opened for reading) fails the test instead of
// the whole run.
func runStatus(t *testing.T, ns, bin string, args ...string) outcome {
	t.Helper()
	return runStatusCmd(t, exec.Command("ip", inNS(ns, bin, args...)...))
}

// runStatusCmd runs cmd as runStatus does.
func runStatusCmd(t *testing.T, cmd *exec.Cmd) outcome {
	t.Helper()
	bin := cmd.Args[0]
	args := cmd.Args[1:]
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // it may exit on its own meanwhile
		<-done
		t.Fatalf("%s %s did not exit within 60s:\n%s", bin, strings.Join(args, " "), stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return outcome{0, stderr.String()}
	case errors.As(err, &ee):
		return outcome{ee.ExitCode(), stderr.String()}
	}
	t.Fatalf("running %s: %v", bin, err)
	return outcome{}
}

// TestExitCodes_bad_config_and_bad_files_exit_2_naming_what_is_wrong runs
// the built binary on each broken configuration of issue 9 item 12 and
// checks the exit status and that the message names the file or key at
// fault and the fix. Every command runs in a fresh network namespace, so
// that a `run` that wrongly goes ahead touches no firewall of the host.
func TestExitCodes_bad_config_and_bad_files_exit_2_naming_what_is_wrong(t *testing.T) {
	ns := newNamespace(t, "exit")
	bin := binary(t)
	dir := t.TempDir()
	file := func(name string, content []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := file("fail2ban.log", nil)
	empty := file("empty.toml", nil)
	openToken := file("open-token", []byte("tok\n"))
	if err := os.Chmod(openToken, 0o644); err != nil {
		t.Fatal(err)
	}
	utf16File := func() []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune("\ufeffthreshold = 3\n")) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}()
	confDir := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logdir")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		code int
		want []string // each must appear in stderr
	}{
		{"a TOML syntax error names the file and line", []string{"check", "--config", file("syntax.toml", []byte("threshold = 3\nwindow =\n"))},
			2, []string{"syntax.toml", "line 2", "fix"}},
		{"a duplicate key names the file, line and key", []string{"check", "--config", file("dup.toml", []byte("threshold = 3\nthreshold = 4\n"))},
			2, []string{"dup.toml", "line 2", "threshold", "fix"}},
		{"an integer out of range names the file and line", []string{"check", "--config", file("big.toml", []byte("\nmaxelem = 99999999999999999999\n"))},
			2, []string{"big.toml", "line 2", "out of range"}},
		{"a UTF-16 file says to save it as UTF-8", []string{"check", "--config", file("utf16.toml", utf16File)},
			2, []string{"utf16.toml", "UTF-16", "save it as UTF-8"}},
		{"a file with NUL bytes names the file and line", []string{"check", "--config", file("nul.toml", []byte("threshold = 3\n\x00\x00\x00\n"))},
			2, []string{"nul.toml", "line 2", "NUL"}},
		{"a config that is a directory names it", []string{"check", "--config", confDir},
			2, []string{confDir, "is a directory", "--config"}},
		{"a missing --config file names it", []string{"check", "--config", filepath.Join(dir, "missing.toml")},
			2, []string{filepath.Join(dir, "missing.toml"), "does not exist", "--config"}},
		{"a set name starting with '-' names set-name and what is allowed", []string{"check", "--config", empty, "--set-name=-x"},
			2, []string{"set-name", `"-x"`, "starting with a letter or digit"}},
		{"a FIFO as log is refused up front, before the kernel", []string{"run", "--config", empty, "--state-dir", filepath.Join(dir, "state-fifo"), "--set-name", "rcdvexit", "--log", fifo},
			2, []string{"log", fifo, "FIFO", "not supported"}},
		{"a directory as log is refused before the kernel", []string{"run", "--config", empty, "--state-dir", filepath.Join(dir, "state-dir"), "--set-name", "rcdvexit", "--log", logDir},
			2, []string{"log", logDir, "directory"}},
		{"an export on every interface without token or allow list is refused before the kernel", []string{"run", "--config", empty, "--state-dir", filepath.Join(dir, "state-export"), "--set-name", "rcdvexit", "--log", log, "--export-listen", "0.0.0.0:9733"},
			2, []string{"export-listen", "0.0.0.0:9733", "export-token-file or export-allow"}},
		{"an export token file others can read names the chmod", []string{"check", "--config", empty, "--export-listen", "127.0.0.1:9733", "--export-token-file", openToken},
			2, []string{"export-token-file", "chmod 600 " + openToken}},
		{"an ignore of 0.0.0.0/0 is accepted with a loud warning", []string{"scan", "--config", empty, "--ignore", "0.0.0.0/0", log},
			0, []string{"ignore", "0.0.0.0/0", "disables all blocking"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			got := runStatus(t, ns, bin, c.args...)
			if got.code != c.code {
				t.Errorf("recidivist %s: exit %d, want %d:\n%s", strings.Join(c.args, " "), got.code, c.code, got.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(got.stderr, w) {
					t.Errorf("recidivist %s: stderr does not name %q:\n%s", strings.Join(c.args, " "), w, got.stderr)
				}
			}
		})
	}
	// Validation comes first: the refused `run`s created nothing.
	if out, err := exec.Command("ip", inNS(ns, "ipset", "list", "-n")...).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("after the refused runs the namespace has sets (%v):\n%s", err, out)
	}
}

// TestExitCodes_default_config_missing_means_defaults keeps the documented
// behaviour: without --config, a missing default file is no error.
func TestExitCodes_default_config_missing_means_defaults(t *testing.T) {
	bin := binary(t)
	if _, err := os.Stat("/etc/recidivist/recidivist.toml"); err == nil {
		t.Skip("this host has /etc/recidivist/recidivist.toml; the test needs it absent")
	}
	log := filepath.Join(t.TempDir(), "fail2ban.log")
	if err := os.WriteFile(log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "scan", log)
	cmd.Env = withoutEnv(os.Environ(), "RECIDIVIST_CONFIG")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scan without --config: %v\n%s", err, out)
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestExitCodes_read_only_state_dir_names_the_fix runs the daemon on a state
// dir that a private mount namespace makes read-only.
func TestExitCodes_read_only_state_dir_names_the_fix(t *testing.T) {
	ns := newNamespace(t, "rostate")
	bin := binary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "fail2ban.log")
	conf := filepath.Join(dir, "empty.toml")
	for _, f := range []string{log, conf} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The read-only bind mount lives in a mount namespace of its own and
	// goes with it.
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`
	for _, args := range [][]string{
		{"run", "--log", log},
		{"ban", "192.0.2.9"},
		{"unban", "192.0.2.9"},
	} {
		args = append(args, "--config", conf, "--state-dir", state, "--set-name", "rcdvro")
		got := runStatusCmd(t, exec.Command("unshare", append([]string{"--mount", "--", "sh", "-c", script, "sh", state},
			append([]string{"ip"}, inNS(ns, bin, args...)...)...)...))
		if got.code != 1 {
			t.Errorf("%s on a read-only state dir: exit %d, want 1:\n%s", args[0], got.code, got.stderr)
		}
		for _, w := range []string{"state-dir", state, "read-only", "remount"} {
			if !strings.Contains(got.stderr, w) {
				t.Errorf("%s on a read-only state dir: stderr does not name %q:\n%s", args[0], w, got.stderr)
			}
		}
	}
}
