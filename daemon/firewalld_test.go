package daemon

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/firewalld"
	"github.com/recidivist/recidivist/internal/firewalld/firewalldtest"
	"github.com/recidivist/recidivist/statedir"
)

func TestDaemon_repairs_the_rules_when_firewalld_signals_a_reload_on_the_bus(t *testing.T) {
	bus := firewalldtest.Start(t)
	subs := make(chan struct{}, 4)
	w := &firewalld.Watcher{Addr: bus.Addr, Subscribed: func() { subs <- struct{}{} }}
	h := newHarness(t, nil) // reconcile interval 1h, header ticks by hand, no nf_tables watch: only the signal can repair
	h.firewalld = w.Run
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.44")}); err != nil {
		t.Fatal(err)
	}
	w.Log = slog.New(slog.NewTextHandler(h.logs, nil))
	h.start()
	select {
	case <-subs:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon does not follow firewalld's reloads on the bus:\n%s", h.logs.String())
	}

	// A reload that left our rules alone (firewalld ≥ 2.0 on nftables) is
	// no repair.
	bus.EmitReloaded()
	h.eventually("the signal taken in", func() bool { return strings.Contains(h.logs.String(), "firewalld reloaded") })
	h.settle()
	if n := causeCount(t, h.d, CauseFirewalldReload); n != 0 {
		t.Errorf("recidivist_repairs_total{cause=firewalld-reload} = %v after a reload that took nothing, want 0", n)
	}

	// One that flushed iptables (its iptables backend, direct rules):
	// the rules come back, counted under the reload's cause.
	h.fake.FlushRules()
	bus.EmitReloaded()
	h.eventually("the rule back after firewalld's reload", h.healthy)
	if n := causeCount(t, h.d, CauseFirewalldReload); n != 1 {
		t.Errorf("recidivist_repairs_total{cause=firewalld-reload} = %v, want 1", n)
	}
	if !h.inSet("192.0.2.44") {
		t.Error("192.0.2.44 is no longer in the set after the repair")
	}
	if !strings.Contains(h.logs.String(), "cause=firewalld-reload") {
		t.Errorf("the repair's log names no cause:\n%s", h.logs.String())
	}
}
