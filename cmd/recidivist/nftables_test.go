package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

// nftSet lists the prefixes in the nftables table of the current namespace.
func nftSet(t *testing.T, table string) []string {
	t.Helper()
	s, err := nftstore.New(ipsetstore.Config{SetName: table, Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return listedPrefixes(t, s)
}

// TestCommands_work_unchanged_on_the_nftables_backend walks ban, status,
// check, unban, restore and teardown with backend = nftables in a fresh
// namespace, and checks that no ipset or iptables rule appears.
func TestCommands_work_unchanged_on_the_nftables_backend(t *testing.T) {
	netnstest.Enter(t)
	t.Setenv("RECIDIVIST_BACKEND", "nftables")
	state := t.TempDir()
	common := []string{"--state-dir", state, "--set-name", "rcdvnft"}
	do := func(args ...string) (int, string, string) {
		t.Helper()
		return invoke(t, append(args[:1:1], append(slices.Clone(common), args[1:]...)...)...)
	}
	if code, out, errOut := do("ban", "203.0.113.7", "2001:db8:bad::/48"); code != 0 || out != "banned 203.0.113.7/32\nbanned 2001:db8:bad::/48\n" {
		t.Fatalf("ban: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := nftSet(t, "rcdvnft"); !slices.Equal(got, []string{"2001:db8:bad::/48", "203.0.113.7/32"}) {
		t.Errorf("table after ban = %v", got)
	}
	code, out, errOut := do("status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Kernel == nil {
		t.Fatalf("status --json: exit %d, %v: %s %s", code, err, out, errOut)
	}
	if len(st.Kernel.Sets) != 2 || st.Kernel.Sets[0].Name != "inet rcdvnft v4" || st.Kernel.Sets[0].Entries != 1 || st.Kernel.Sets[1].Entries != 1 {
		t.Errorf("status --json kernel sets = %+v", st.Kernel.Sets)
	}
	_, out, _ = do("check")
	for _, want := range []string{"ok       kernel: nftables support present", "ok       set inet rcdvnft v4 (inet): 1 entries", "ok       rule INPUT/inet at the top", "ok       sets hold exactly the mirror's 2 entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := do("unban", "203.0.113.7"); code != 0 || out != "unbanned 203.0.113.7/32\n" {
		t.Errorf("unban: exit %d, %q", code, out)
	}
	if got := nftSet(t, "rcdvnft"); !slices.Equal(got, []string{"2001:db8:bad::/48"}) {
		t.Errorf("table after unban = %v", got)
	}
	if out, _ := exec.Command("nft", "delete", "table", "inet", "rcdvnft").CombinedOutput(); len(out) != 0 {
		t.Fatalf("nft delete table: %s", out)
	}
	if code, _, errOut := do("restore"); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := nftSet(t, "rcdvnft"); !slices.Equal(got, []string{"2001:db8:bad::/48"}) {
		t.Errorf("table after the reboot-like restore = %v", got)
	}
	if out, _ := exec.Command("iptables", "-S", "INPUT").CombinedOutput(); strings.Contains(string(out), "rcdvnft") {
		t.Errorf("the nftables backend wrote an iptables rule:\n%s", out)
	}
	if out, _ := exec.Command("ipset", "list", "-n").CombinedOutput(); strings.Contains(string(out), "rcdvnft") {
		t.Errorf("the nftables backend made an ipset:\n%s", out)
	}
	if code, out, errOut := do("teardown"); code != 0 || !strings.Contains(out, "removed the nftables table inet rcdvnft") {
		t.Fatalf("teardown: exit %d, %q, %q", code, out, errOut)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", "rcdvnft").CombinedOutput(); err == nil {
		t.Errorf("the table survived teardown:\n%s", out)
	}
}
