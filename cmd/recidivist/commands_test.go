package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

// invoke runs one recidivist command line in-process and returns its exit
// status, stdout and stderr.
func invoke(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"recidivist"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// kernelSet lists the prefixes in the sets of the current namespace.
func kernelSet(t *testing.T, setName string) []string {
	t.Helper()
	s, err := ipsetstore.New(ipsetstore.Config{SetName: setName, Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return listedPrefixes(t, s)
}

// listedPrefixes lists the prefixes s holds, sorted.
func listedPrefixes(t *testing.T, s ipsetstore.Store) []string {
	t.Helper()
	es, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Prefix.String())
	}
	slices.Sort(out)
	return out
}

// TestCommands_ban_list_unban_restore_teardown_in_a_fresh_namespace walks the
// manual commands through their contract on the real kernel.
func TestCommands_ban_list_unban_restore_teardown_in_a_fresh_namespace(t *testing.T) {
	netnstest.Enter(t)
	state := t.TempDir()
	common := []string{"--state-dir", state, "--set-name", "rcdvcmd"}
	do := func(args ...string) (int, string, string) {
		t.Helper()
		return invoke(t, append(args[:1:1], append(slices.Clone(common), args[1:]...)...)...)
	}

	if code, out, errOut := do("ban", "--comment", "webmail brute force", "203.0.113.7", "2001:db8:bad::/48"); code != 0 || out != "banned 203.0.113.7/32\nbanned 2001:db8:bad::/48\n" {
		t.Fatalf("ban: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := kernelSet(t, "rcdvcmd"); !slices.Equal(got, []string{"2001:db8:bad::/48", "203.0.113.7/32"}) {
		t.Errorf("sets after ban = %v", got)
	}
	// Options after the addresses, as PRODUCT.md writes them.
	if code, out, errOut := do("ban", "192.0.2.1", "--comment", "late", "198.51.100.1"); code != 0 || out != "banned 192.0.2.1/32\nbanned 198.51.100.1/32\n" {
		t.Errorf("ban with an option between the addresses: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := do("unban", "192.0.2.1", "--dry-run"); code != 0 || out != "dry run: would unban 192.0.2.1/32\n" {
		t.Errorf("unban ADDR --dry-run: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := do("unban", "192.0.2.1", "198.51.100.1"); code != 0 || !strings.Contains(out, "unbanned 198.51.100.1/32") {
		t.Errorf("unban of both: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, _ := do("ban", "203.0.113.7"); code != 0 || out != "already banned 203.0.113.7/32\n" {
		t.Errorf("second ban: exit %d, %q", code, out)
	}
	if code, _, errOut := do("ban", "10.0.0.0/8"); code != 2 || !strings.Contains(errOut, "--force") {
		t.Errorf("ban of a /8 without --force: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := do("ban", "127.0.0.1"); code != 2 || !strings.Contains(errOut, "refusing to ban 127.0.0.1/32") {
		t.Errorf("ban of loopback: exit %d, stderr %q", code, errOut)
	}

	code, out, _ := invoke(t, "list", "--state-dir", state, "--json")
	var listed []entryJSON
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil {
		t.Fatalf("list --json: exit %d, %v: %s", code, err, out)
	}
	if len(listed) != 2 || listed[0].Address != "203.0.113.7" || !listed[0].Manual || listed[0].Comment != "webmail brute force" || listed[0].Added == nil {
		t.Errorf("list --json = %+v", listed)
	}
	if code, out, _ := invoke(t, "list", "--state-dir", state); code != 0 || !strings.Contains(out, "2001:db8:bad::/48") || !strings.Contains(out, "webmail brute force") {
		t.Errorf("list: exit %d:\n%s", code, out)
	}

	if code, out, _ := do("unban", "203.0.113.7"); code != 0 || out != "unbanned 203.0.113.7/32\n" {
		t.Errorf("unban: exit %d, %q", code, out)
	}
	if got := kernelSet(t, "rcdvcmd"); !slices.Equal(got, []string{"2001:db8:bad::/48"}) {
		t.Errorf("sets after unban = %v", got)
	}
	if code, _, errOut := do("unban", "203.0.113.7"); code != 1 || !strings.Contains(errOut, "was not in the blocklist") {
		t.Errorf("unban of an unlisted address: exit %d, stderr %q", code, errOut)
	}

	// A hand edit while nothing runs: restore makes the kernel equal the mirror.
	f, err := os.OpenFile(statedir.Mirror(state), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("198.51.100.0/24 # added by hand\n")
	f.Close()
	if code, _, errOut := do("restore"); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := kernelSet(t, "rcdvcmd"); !slices.Equal(got, []string{"198.51.100.0/24", "2001:db8:bad::/48"}) {
		t.Errorf("sets after restore = %v", got)
	}
	rules, err := exec.Command("iptables", "-S", "INPUT").CombinedOutput()
	if err != nil || strings.Count(string(rules), "--match-set rcdvcmd src") != 1 {
		t.Errorf("iptables -S INPUT after restore (%v):\n%s", err, rules)
	}

	if code, out, errOut := do("teardown"); code != 0 || !strings.Contains(out, "the mirror "+statedir.Mirror(state)+" is kept") {
		t.Fatalf("teardown: exit %d, %q, %q", code, out, errOut)
	}
	rules, _ = exec.Command("iptables", "-S", "INPUT").CombinedOutput()
	if strings.Contains(string(rules), "rcdvcmd") {
		t.Errorf("a rule survived teardown:\n%s", rules)
	}
	s, _ := ipsetstore.New(ipsetstore.Config{SetName: "rcdvcmd", Chains: []string{"INPUT"}, Target: "DROP"})
	st, err := s.Status()
	if err != nil || st.Sets[0].Exists || st.Sets[1].Exists {
		t.Errorf("sets after teardown: %+v (%v)", st.Sets, err)
	}
	if _, err := os.Stat(statedir.Mirror(state)); err != nil {
		t.Errorf("teardown lost the mirror: %v", err)
	}
}

// TestTeardown_refuses_while_the_daemon_runs runs teardown beside a daemon.
// Teardown works on the real kernel, not on the daemon's fake: as root the
// test puts real sets and rules in a fresh namespace and checks they are
// still there, so a teardown that wrongly went ahead fails the test there
// instead of removing the host's.
func TestTeardown_refuses_while_the_daemon_runs(t *testing.T) {
	root := os.Geteuid() == 0
	if root {
		netnstest.Enter(t)
	}
	w := newWorld(t)
	w.runDaemon(t)
	common := []string{"--state-dir", w.cfg.StateDir, "--set-name", "rcdvteardown"}
	if root {
		if code, _, errOut := invoke(t, append([]string{"restore"}, common...)...); code != 0 {
			t.Fatalf("restore: exit %d: %s", code, errOut)
		}
	}
	code, _, errOut := invoke(t, append([]string{"teardown"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "stop it first") {
		t.Errorf("teardown beside a running daemon: exit %d, stderr %q", code, errOut)
	}
	if !root {
		return
	}
	s, err := ipsetstore.New(ipsetstore.Config{SetName: "rcdvteardown", Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := s.Status(); err != nil || !st.Healthy() {
		t.Errorf("the kernel was changed by a refused teardown: %+v (%v)", st, err)
	}
}
