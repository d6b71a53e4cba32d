package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
	"github.com/recidivist/recidivist/statedir"
)

// writeMirror writes a mirror of n single IPv4 addresses, an IPv6 address,
// a range and a member of that range into state.
func writeMirror(t *testing.T, state string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "10.%d.%d.%d # migrate test\n", i>>16, (i>>8)&0xff, i&0xff)
	}
	b.WriteString("2001:db8::7\n198.51.100.0/24\n198.51.100.9\n")
	if err := os.WriteFile(statedir.Mirror(state), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// backendState says what each backend holds in the current namespace:
// entries listed (-1 when its sets are absent) and whether any rule is
// there.
func backendState(t *testing.T, set string) (ipsetEntries, nftEntries int, iptablesRule bool) {
	t.Helper()
	cfg := ipsetstore.Config{SetName: set, Chains: []string{"INPUT"}, Target: "DROP"}
	count := func(s ipsetstore.Store) int {
		st, err := s.Status()
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		n := -1
		for _, ss := range st.Sets {
			if ss.Exists {
				n = max(n, 0) + ss.Entries
			}
		}
		return n
	}
	is, err := ipsetstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	ns, err := nftstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	out, _ := exec.Command("iptables", "-S", "INPUT").CombinedOutput()
	return count(is), count(ns), strings.Contains(string(out), "match-set")
}

// TestMigrate_moves_100k_entries_both_ways_and_finishes_after_a_crash walks
// migrate through its contract in a fresh namespace.
func TestMigrate_moves_100k_entries_both_ways_and_finishes_after_a_crash(t *testing.T) {
	netnstest.Enter(t)
	state := t.TempDir()
	const n = 100_000
	writeMirror(t, state, n)
	common := []string{"--state-dir", state, "--set-name", "rcdvmig"}
	do := func(args ...string) (int, string, string) {
		t.Helper()
		return invoke(t, append(args[:1:1], append(append([]string(nil), common...), args[1:]...)...)...)
	}
	if code, _, errOut := do("restore"); code != 0 {
		t.Fatalf("restore on ipset: exit %d: %s", code, errOut)
	}
	// nftables holds the range without its member.
	wantIpset, wantNft := n+3, n+2
	steps := []struct {
		name                 string
		args                 []string
		ipset, nft           int
		rule                 bool
		outputHas, backendIs string
	}{
		{"to_nftables", []string{"migrate", "--to", "nftables"}, -1, wantNft, false, "migrated 100003 entries", ""},
		{"to_nftables_again_changes_nothing", []string{"migrate", "--to", "nftables"}, -1, wantNft, false, "migrated", ""},
		{"back_to_ipset", []string{"migrate", "--to", "ipset", "--backend", "nftables"}, wantIpset, -1, true, "removed the nftables table inet rcdvmig", ""},
	}
	for _, s := range steps {
		code, out, errOut := do(s.args...)
		if code != 0 || !strings.Contains(out, s.outputHas) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", s.name, code, out, errOut)
		}
		ipsetN, nftN, rule := backendState(t, "rcdvmig")
		if ipsetN != s.ipset || nftN != s.nft || rule != s.rule {
			t.Fatalf("%s: ipset holds %d, nftables %d, iptables rule %v; want %d, %d, %v", s.name, ipsetN, nftN, rule, s.ipset, s.nft, s.rule)
		}
	}
	// A crash after building nftables, before removing the ipsets: both
	// backends hold the blocks; migrate again finishes the job.
	if code, _, errOut := do("restore", "--backend", "nftables"); code != 0 {
		t.Fatalf("restore on nftables: exit %d: %s", code, errOut)
	}
	if ipsetN, nftN, _ := backendState(t, "rcdvmig"); ipsetN != wantIpset || nftN != wantNft {
		t.Fatalf("after the simulated crash ipset holds %d and nftables %d, want both full", ipsetN, nftN)
	}
	if code, out, errOut := do("migrate", "--to", "nftables"); code != 0 || !strings.Contains(out, `now set backend = "nftables"`) {
		t.Fatalf("migrate after the crash: exit %d, %q, %q", code, out, errOut)
	}
	if ipsetN, nftN, rule := backendState(t, "rcdvmig"); ipsetN != -1 || nftN != wantNft || rule {
		t.Fatalf("after migrate ipset holds %d (rule %v), nftables %d; want the ipsets gone", ipsetN, rule, nftN)
	}
}

func TestMigrate_refuses_a_bad_target_and_a_chain_nftables_cannot_hook_with_exit_2(t *testing.T) {
	state := t.TempDir()
	for _, args := range [][]string{
		{"migrate", "--state-dir", state, "--to", "pf"},
		{"migrate", "--state-dir", state, "--to", "nftables", "--chain", "f2b-sshd"},
	} {
		code, _, errOut := invoke(t, args...)
		if code != 2 || !strings.Contains(errOut, args[len(args)-1]) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %s", args, code, errOut, args[len(args)-1])
		}
	}
}
