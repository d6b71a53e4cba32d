package nfwatch_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/internal/nfwatch"
)

// watch runs a watcher of the test's namespace and returns its commits.
func watch(t *testing.T) <-chan nfwatch.Commit {
	t.Helper()
	w, err := nfwatch.Open()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan nfwatch.Commit, 100)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(c nfwatch.Commit) { out <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close() //nolint:errcheck // test cleanup
	})
	// The socket joins the group in Run: commit until a commit is seen.
	// Each probe adds and deletes a table in one transaction (adding one
	// that exists commits nothing); next skips late ones.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mustRun(t, "nft", "add table inet "+probe+"; delete table inet "+probe)
		select {
		case <-out:
			return out
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no nf_tables commit seen within 30s")
		}
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// probe is the table watch commits until the watcher listens.
const probe = "nfwatchprobe"

// next returns the next commit that deleted something but the probe.
func next(t *testing.T, ch <-chan nfwatch.Commit) nfwatch.Commit {
	t.Helper()
	for {
		select {
		case c := <-ch:
			onlyProbe := len(c.Deleted) > 0
			for _, d := range c.Deleted {
				onlyProbe = onlyProbe && d.Table == probe
			}
			if len(c.Deleted) > 0 && !onlyProbe || c.Lost != nil {
				return c
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no commit deleting anything within 30s")
		}
	}
}

func TestWatcher_names_what_each_commit_deleted_and_who_committed_it(t *testing.T) {
	netnstest.Enter(t)
	ch := watch(t)

	mustRun(t, "iptables", "-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP")
	mustRun(t, "iptables", "-F", "INPUT")
	c := next(t, ch)
	if c.Own() || c.SameProgram() || c.Comm != "iptables" || !slices.Contains(c.Deleted, nfwatch.Deletion{Kind: nfwatch.Rule, Family: unix.NFPROTO_IPV4, Table: "filter", Chain: "INPUT"}) {
		t.Errorf("iptables -F INPUT: commit %+v", c)
	}

	mustRun(t, "nft", "add", "table", "inet", "t")
	mustRun(t, "nft", "add", "set", "inet", "t", "s", "{ type ipv4_addr; }")
	mustRun(t, "nft", "add", "element", "inet", "t", "s", "{ 192.0.2.7 }")
	mustRun(t, "nft", "flush", "set", "inet", "t", "s")
	c = next(t, ch)
	if c.Comm != "nft" || !slices.Contains(c.Deleted, nfwatch.Deletion{Kind: nfwatch.Element, Family: unix.NFPROTO_INET, Table: "t", Set: "s"}) {
		t.Errorf("nft flush set: commit %+v", c)
	}

	mustRun(t, "nft", "flush", "ruleset")
	c = next(t, ch)
	for _, want := range []nfwatch.Deletion{
		{Kind: nfwatch.Table, Family: unix.NFPROTO_INET, Table: "t"},
		{Kind: nfwatch.Table, Family: unix.NFPROTO_IPV4, Table: "filter"},
		{Kind: nfwatch.Chain, Family: unix.NFPROTO_IPV4, Table: "filter", Chain: "INPUT"},
	} {
		if !slices.Contains(c.Deleted, want) {
			t.Errorf("nft flush ruleset: commit lacks %+v: %+v", want, c)
		}
	}

	before, err := nfwatch.Generation(-1)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tab := conn.AddTable(&nftables.Table{Name: "mine", Family: nftables.TableFamilyINet})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.DelTable(tab)
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	c = next(t, ch)
	if !c.Own() || !c.SameProgram() || !slices.Contains(c.Deleted, nfwatch.Deletion{Kind: nfwatch.Table, Family: unix.NFPROTO_INET, Table: "mine"}) {
		t.Errorf("this process's own delete: commit %+v, Own %v", c, c.Own())
	}
	after, err := nfwatch.Generation(-1)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+2 || c.Gen != after {
		t.Errorf("generation %d before two commits, %d after, the delete's commit says %d", before, after, c.Gen)
	}
}
