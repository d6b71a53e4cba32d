package daemon

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

func TestDaemon_a_reload_that_changes_the_reconcile_interval_takes_effect(t *testing.T) {
	h := newHarness(t, nil) // reconcile-interval 1h
	h.writeMirror("192.0.2.80\n")
	h.start()
	if err := h.ticks.WaitFor(time.Hour, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	cfg := *h.cfg
	cfg.ReconcileInterval = 5 * time.Minute
	h.d.Reload(&cfg)
	if err := h.ticks.WaitFor(5*time.Minute, 30*time.Second); err != nil {
		t.Fatalf("after a reload to 5m: %v", err)
	}
	// The new interval drives the reconcile: drift is healed at its tick.
	h.fake.FlushSets()
	for range 2 { // the second returns once the loop is done with the first
		if err := h.ticks.Tick(5*time.Minute, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if !h.inSet("192.0.2.80") {
		t.Errorf("a tick of the reloaded 5m interval did not reconcile the flushed set\n%s", h.logs.String())
	}
}

func TestDaemon_a_reload_names_each_changed_key_that_needs_a_restart_and_keeps_its_value(t *testing.T) {
	for _, tc := range []struct {
		key    string
		change func(*config.Config)
		kept   func(old, now *config.Config) bool
	}{
		{"log", func(c *config.Config) { c.Logs = []string{c.Logs[0] + ".other"} }, func(o, n *config.Config) bool { return n.Logs[0] == o.Logs[0] }},
		{"set-name", func(c *config.Config) { c.SetName = "other" }, func(o, n *config.Config) bool { return n.SetName == o.SetName }},
		{"chain", func(c *config.Config) { c.Chains = []string{"DOCKER-USER"} }, func(o, n *config.Config) bool { return n.Chains[0] == o.Chains[0] }},
		{"target", func(c *config.Config) { c.Target = "REJECT" }, func(o, n *config.Config) bool { return n.Target == o.Target }},
		{"ports", func(c *config.Config) { c.Ports = "tcp:22" }, func(o, n *config.Config) bool { return n.Ports == o.Ports }},
		{"maxelem", func(c *config.Config) { c.MaxElem = 1024 }, func(o, n *config.Config) bool { return n.MaxElem == o.MaxElem }},
		{"backend", func(c *config.Config) { c.Backend = "nftables" }, func(o, n *config.Config) bool { return n.Backend == o.Backend }},
		{"iptables-variant", func(c *config.Config) { c.IPTablesVariant = "legacy" }, func(o, n *config.Config) bool { return n.IPTablesVariant == o.IPTablesVariant }},
		{"state-dir", func(c *config.Config) { c.StateDir += ".other" }, func(o, n *config.Config) bool { return n.StateDir == o.StateDir }},
		{"dry-run", func(c *config.Config) { c.DryRun = true }, func(o, n *config.Config) bool { return n.DryRun == o.DryRun }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			h := newHarness(t, nil)
			h.start()
			old := *h.cfg
			cfg := *h.cfg
			cfg.Threshold = 7
			tc.change(&cfg)
			h.d.Reload(&cfg)
			logs := h.logs.String()
			warn := lineWith(logs, "take effect only after a restart")
			if !strings.Contains(warn, tc.key) {
				t.Errorf("a reload that changed %s logged no restart warning naming it:\n%s", tc.key, logs)
			}
			h.d.mu.Lock()
			now := *h.d.cfg
			h.d.mu.Unlock()
			if !tc.kept(&old, &now) {
				t.Errorf("the changed %s was put in force without a restart", tc.key)
			}
			if now.Threshold != 7 {
				t.Errorf("threshold %d after the reload, want the new 7: the other keys still apply", now.Threshold)
			}
		})
	}
}

func TestDaemon_a_reload_that_changes_only_appliable_keys_asks_for_no_restart(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	cfg := *h.cfg
	cfg.Threshold, cfg.ReconcileInterval, cfg.LogFormat = 5, time.Minute, "json"
	h.d.Reload(&cfg)
	logs := h.logs.String()
	if strings.Contains(logs, "restart") {
		t.Errorf("a reload of threshold, reconcile-interval and log-format asked for a restart:\n%s", logs)
	}
	line := lineWith(logs, "configuration reloaded")
	for _, k := range []string{"threshold", "reconcile-interval", "log-format"} {
		if !strings.Contains(line, k) {
			t.Errorf("the reload does not say that %s changed: %q", k, line)
		}
	}
}

func TestReloadKeys_classify_every_configuration_key(t *testing.T) {
	for _, k := range config.Keys {
		if _, ok := reloadKeys[k.Name]; !ok {
			t.Errorf("key %s: reloadKeys does not say whether a reload applies it or a restart is needed", k.Name)
		}
	}
	if len(reloadKeys) != len(config.Keys) {
		t.Errorf("reloadKeys has %d keys, config.Keys %d: remove the keys that are gone", len(reloadKeys), len(config.Keys))
	}
}

// lineWith returns the first line of logs that contains s, or "".
func lineWith(logs, s string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// flushAfterList is the fake kernel whose sets someone flushes (ipset
// flush, a firewall reload) right after a reconcile listed them, once armed.
type flushAfterList struct {
	*ipsettest.Fake
	armed atomic.Bool
}

func (f *flushAfterList) List() ([]ipsetstore.Entry, error) {
	es, err := f.Fake.List()
	if f.armed.CompareAndSwap(true, false) {
		f.Fake.FlushSets()
	}
	return es, err
}

func TestDaemon_sets_flushed_while_a_reconcile_works_are_refilled_at_the_next_interval(t *testing.T) {
	h := newHarness(t, nil)
	h.writeMirror("192.0.2.90\n2001:db8::90\n")
	store := &flushAfterList{Fake: h.fake}
	h.store = store
	h.start()
	store.armed.Store(true)
	h.d.Reconcile() // lists the sets, which are flushed behind it
	if store.armed.Load() {
		t.Fatal("the reconcile did not list the sets")
	}
	for range 2 { // the second returns once the loop is done with the first
		if err := h.ticks.Tick(h.cfg.ReconcileInterval, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if !h.inSet("192.0.2.90") || !h.inSet("2001:db8::90") {
		t.Errorf("sets flushed during a reconcile are still empty after the next interval: the quick check took the flushed sets for the state the reconcile left\n%s", h.logs.String())
	}
}
