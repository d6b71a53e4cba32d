package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOneDaemon_per_set_names_per_namespace_even_with_another_state_dir
// starts a daemon, then a second one on the same sets with another state
// dir in the same namespace (refused, naming the first one's PID and state
// dir), and a third on the same set names in another namespace (runs: its
// sets are its own).
func TestOneDaemon_per_set_names_per_namespace_even_with_another_state_dir(t *testing.T) {
	nsA := newNamespace(t, "one-a")
	nsB := newNamespace(t, "one-b")
	bin := binary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "empty.toml")
	log := filepath.Join(dir, "fail2ban.log")
	for _, f := range []string{conf, log} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	daemonArgs := func(state string) []string {
		return []string{"run", "--config", conf, "--log", log, "--set-name", "rcdvone", "--state-dir", filepath.Join(dir, state)}
	}
	ready := func(p *proc) {
		t.Helper()
		eventually(t, time.Now(), 30*time.Second, "the daemon puts the blocklist in force", p, func() (bool, error) {
			if p.exited() {
				return false, fmt.Errorf("exited early (%v)", p.err)
			}
			return strings.Contains(p.out.String(), "blocklist in force"), nil
		})
	}

	first := startIn(t, nsA, bin, daemonArgs("state-1")...)
	ready(first)

	second := runStatus(t, nsA, bin, daemonArgs("state-2")...)
	if second.code != 1 {
		t.Errorf("a second daemon on the same sets in the same namespace: exit %d, want 1:\n%s", second.code, second.stderr)
	}
	for _, w := range []string{fmt.Sprintf("PID %d", first.cmd.Process.Pid), filepath.Join(dir, "state-1"), "rcdvone", "set-name"} {
		if !strings.Contains(second.stderr, w) {
			t.Errorf("the refusal does not name %q:\n%s", w, second.stderr)
		}
	}

	elsewhere := startIn(t, nsB, bin, daemonArgs("state-3")...)
	ready(elsewhere)
	first.alive(t)
	first.term(t)
	elsewhere.term(t)

	// Once the first has stopped, a daemon may take its sets.
	next := startIn(t, nsA, bin, daemonArgs("state-2")...)
	ready(next)
	next.term(t)
}
