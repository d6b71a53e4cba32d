package daemon

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

// pendingWarning is the start of the warning a missing chain gets.
const pendingWarning = "chain does not exist yet"

func TestDaemon_a_chain_that_does_not_exist_yet_is_warned_once_and_gets_its_rule_when_it_appears(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Chains = []string{"INPUT", "DOCKER-USER"} })
	if _, err := blocklist.Open(statedir.Mirror(h.cfg.StateDir)).Add(blocklist.Entry{Prefix: prefix("192.0.2.44")}); err != nil {
		t.Fatal(err)
	}
	h.fake.RemoveChain("DOCKER-USER") // the daemon starts before Docker
	h.start()
	if !h.inSet("192.0.2.44") {
		t.Fatalf("the mirror is not in force with DOCKER-USER missing:\n%s", h.logs.String())
	}
	tick := func() {
		t.Helper()
		// The second tick returns once the loop acted on the first.
		for range 2 {
			if err := h.ticks.Tick(h.cfg.ReconcileInterval, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.d.Reconcile()
	tick()
	if n := strings.Count(h.logs.String(), pendingWarning); n != 1 {
		t.Errorf("the missing chain was warned about %d times over a start, a reconcile and intervals, want once:\n%s", n, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "DOCKER-USER/inet6") {
		t.Errorf("the warning does not name the pending chains:\n%s", h.logs.String())
	}

	h.fake.AddChain("DOCKER-USER") // Docker started
	tick()
	st, err := h.fake.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rules {
		if r.Chain == "DOCKER-USER" && (!r.Present || r.Pending) {
			t.Errorf("DOCKER-USER/%s after it appeared and an interval passed: %+v, want its rule on top\n%s", r.Family, r, h.logs.String())
		}
	}
	if !strings.Contains(h.logs.String(), "rules created DOCKER-USER/inet") {
		t.Errorf("the rule put into the new chain was not logged:\n%s", h.logs.String())
	}

	h.fake.RemoveChain("DOCKER-USER") // Docker stopped and took its chain along
	tick()
	if n := strings.Count(h.logs.String(), pendingWarning); n != 2 {
		t.Errorf("a chain gone again was warned about %d times in all, want a second warning:\n%s", n, h.logs.String())
	}
}

func TestRestore_with_a_chain_that_does_not_exist_yet_creates_the_sets_and_loads_the_mirror(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Chains = []string{"DOCKER-USER"} })
	h.fake.RemoveChain("DOCKER-USER")
	entries := []blocklist.Entry{{Prefix: prefix("192.0.2.7")}, {Prefix: prefix("2001:db8::7")}}
	if err := Restore(h.fake, entries, time.Now(), slog.New(slog.NewTextHandler(h.logs, nil))); err != nil {
		t.Fatalf("Restore before the chain exists: %v, want no error", err)
	}
	if !h.inSet("192.0.2.7") || !h.inSet("2001:db8::7") {
		t.Error("Restore before the chain exists did not load the mirror")
	}
	if !strings.Contains(h.logs.String(), pendingWarning) {
		t.Errorf("Restore did not warn of the pending chain:\n%s", h.logs.String())
	}
	st, err := h.fake.Status()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Rules); n != len(ipsetstore.Families) || !st.Rules[0].Pending {
		t.Errorf("rules after Restore = %+v, want DOCKER-USER pending for both families", st.Rules)
	}
}

func TestRestoreRules_puts_flushed_rules_back_and_leaves_the_sets_as_they_are(t *testing.T) {
	h := newHarness(t, nil)
	entries := []blocklist.Entry{{Prefix: prefix("192.0.2.7")}}
	if err := Restore(h.fake, entries, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := h.fake.Add(ipsetstore.Entry{Prefix: prefix("198.51.100.9")}); err != nil { // the daemon's, not in the mirror yet
		t.Fatal(err)
	}
	h.fake.FlushRules() // ufw start with MANAGE_BUILTINS=yes
	if err := RestoreRules(h.fake, slog.New(slog.NewTextHandler(h.logs, nil))); err != nil {
		t.Fatalf("RestoreRules: %v", err)
	}
	if st, err := h.fake.Status(); err != nil || !st.Healthy() {
		t.Errorf("status after RestoreRules = %+v, %v; want the rules back", st, err)
	}
	if !h.inSet("192.0.2.7") || !h.inSet("198.51.100.9") {
		t.Error("RestoreRules changed the sets' entries")
	}
	if !strings.Contains(h.logs.String(), "rules created INPUT/inet") {
		t.Errorf("RestoreRules did not say what it put back:\n%s", h.logs.String())
	}
}

func TestRestoreRules_without_the_sets_creates_nothing_and_says_restore_does(t *testing.T) {
	h := newHarness(t, nil)
	if err := RestoreRules(h.fake, slog.New(slog.NewTextHandler(h.logs, nil))); err != nil {
		t.Fatalf("RestoreRules with no sets: %v, want a warning, not an error (a firewall hook must not fail)", err)
	}
	st, err := h.fake.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Sets {
		if s.Exists {
			t.Errorf("RestoreRules created set %s", s.Name)
		}
	}
	if !strings.Contains(h.logs.String(), "recidivist restore") {
		t.Errorf("RestoreRules with no sets does not name the command that creates them:\n%s", h.logs.String())
	}
}
