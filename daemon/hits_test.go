package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

const day = 24 * time.Hour

// sampleHits ticks the hit sampler and waits until it has sampled (n
// samplings in all so far), so that the test's clock moves only between
// samplings.
func (h *harness) sampleHits(n int) {
	h.t.Helper()
	if err := h.ticks.Tick(h.cfg.HitSampleInterval, 30*time.Second); err != nil {
		h.t.Fatalf("%v\n%s", err, h.logs.String())
	}
	h.eventually(fmt.Sprintf("hit sample %d", n), func() bool {
		total := 0.0
		for _, r := range []string{"ok", "blind", "failed"} {
			total += counterValue(h.t, h.d.metrics.hitSamples.WithLabelValues(r))
		}
		return total >= float64(n)
	})
}

func autoLine(addr string, at time.Time) string {
	return fmt.Sprintf("%s # recidivist %s jails=sshd bans=3\n", addr, at.UTC().Format(time.RFC3339))
}

func TestDaemon_idle_unblock_removes_the_silent_block_keeps_the_hit_and_manual_ones_and_forgives_nothing(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IdleUnblock = 90 * day })
	added := h.clock.now().Add(-time.Hour)
	h.writeMirror(autoLine("192.0.2.1", added) + autoLine("192.0.2.2", added) +
		fmt.Sprintf("192.0.2.3 # recidivist %s manual\n", added.UTC().Format(time.RFC3339)))
	h.start()
	h.sampleHits(1) // blind: the daemon was not watching before its start
	h.fake.Hit(prefix("192.0.2.2"), 5)
	h.clock.advance(50 * day)
	h.sampleHits(2) // .2 hit: idle from now; .1 idle for 50 days
	if !h.inSet("192.0.2.1") {
		t.Fatal("a block idle 50 days was removed with idle-unblock 90d")
	}
	h.clock.advance(50 * day)
	h.sampleHits(3)
	h.eventually("the silent block unblocked", func() bool { return !h.inMirror("192.0.2.1") && !h.inSet("192.0.2.1") })
	for _, a := range []string{"192.0.2.2", "192.0.2.3"} {
		if !h.inMirror(a) || !h.inSet(a) {
			t.Errorf("%s was unblocked; want it kept (hit 50 days ago, or manual)", a)
		}
	}
	if log := h.logs.String(); !strings.Contains(log, "prefix=192.0.2.1/32 reason=idle last_hit=never") {
		t.Errorf("no idle unblock logged with its reason and last hit:\n%s", log)
	}
	if got := counterValue(t, h.d.metrics.blockedPackets.WithLabelValues("inet")); got != 5 {
		t.Errorf("recidivist_blocked_packets_total{family=inet} = %v, want 5", got)
	}

	// A reconcile after it must not take it for an unban: a returning
	// attacker is blocked again at its next ban over the threshold.
	h.d.Reconcile()
	if strings.Contains(h.logs.String(), "unblocked and forgiven\" prefix=192.0.2.1") {
		t.Fatalf("the idle block was forgiven:\n%s", h.logs.String())
	}
	now := h.clock.now()
	for i := range 3 {
		h.ban(now.Add(time.Duration(i-3)*time.Minute), "sshd", "192.0.2.1")
	}
	h.eventually("the returning offender blocked again", func() bool { return h.inMirror("192.0.2.1") && h.inSet("192.0.2.1") })
}

func TestDaemon_idle_unblock_manual_removes_manual_bans_too(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IdleUnblock, c.IdleUnblockManual = 10*day, true })
	h.writeMirror(fmt.Sprintf("192.0.2.3 # recidivist %s manual\n", h.clock.now().UTC().Format(time.RFC3339)))
	h.start()
	h.sampleHits(1)
	h.clock.advance(11 * day)
	h.sampleHits(2)
	h.eventually("the idle manual ban removed", func() bool { return !h.inMirror("192.0.2.3") })
}

func TestDaemon_an_interval_with_the_rule_missing_or_the_counters_reset_unblocks_nothing(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IdleUnblock = 10 * day })
	h.writeMirror(autoLine("192.0.2.1", h.clock.now()) + autoLine("192.0.2.2", h.clock.now()))
	h.start()
	h.sampleHits(1)
	h.fake.Hit(prefix("192.0.2.2"), 3)
	h.clock.advance(time.Hour)
	h.sampleHits(2) // .2 has a baseline of 3 now

	h.fake.FlushRules() // iptables -F: blocked sources pass, unseen
	h.clock.advance(30 * day)
	h.sampleHits(3)
	h.d.Reconcile() // puts the rules back
	h.clock.advance(time.Hour)
	h.sampleHits(4) // the interval saw a repair: blind too
	if !h.inMirror("192.0.2.1") || !h.inMirror("192.0.2.2") {
		t.Fatalf("an interval without the rule aged the blocks:\n%s", h.logs.String())
	}

	h.fake.DestroySets() // a "reboot": sets made again, the counters start from 0
	h.d.Reconcile()
	h.clock.advance(30 * day)
	h.sampleHits(5)
	if !h.inMirror("192.0.2.1") || !h.inMirror("192.0.2.2") {
		t.Fatalf("a reboot of the sets aged the blocks:\n%s", h.logs.String())
	}
	h.clock.advance(11 * day)
	h.sampleHits(6)
	h.eventually("both unblocked after 11 days really idle", func() bool { return !h.inMirror("192.0.2.1") && !h.inMirror("192.0.2.2") })
}

func TestDaemon_a_counter_that_went_down_is_a_reset_whose_interval_ages_nothing(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IdleUnblock = 10 * day })
	h.writeMirror(autoLine("192.0.2.2", h.clock.now()))
	h.start()
	h.sampleHits(1)
	h.fake.Hit(prefix("192.0.2.2"), 3)
	h.clock.advance(time.Hour)
	h.sampleHits(2) // a baseline of 3
	es, err := h.fake.List()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.fake.Replace(es, nil); err != nil { // a swap: same entries, counters from 0, rules untouched
		t.Fatal(err)
	}
	h.clock.advance(30 * day)
	h.sampleHits(3)
	if !h.inMirror("192.0.2.2") {
		t.Fatalf("a counter reset was taken for idleness:\n%s", h.logs.String())
	}
	h.clock.advance(11 * day)
	h.sampleHits(4)
	h.eventually("unblocked after 11 days really idle", func() bool { return !h.inMirror("192.0.2.2") })
}

func TestDaemon_saves_the_hit_record_at_shutdown_and_goes_on_from_it(t *testing.T) {
	h := newHarness(t, nil)
	h.writeMirror(autoLine("192.0.2.1", h.clock.now()))
	h.start()
	h.sampleHits(1)
	h.fake.Hit(prefix("192.0.2.1"), 2)
	h.sampleHits(2)
	h.stop()
	b, err := hits.Load(statedir.Hits(h.cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Records[prefix("192.0.2.1")]; r.Packets != 2 || r.LastHit.IsZero() {
		t.Errorf("saved record %+v, want 2 packets and a last hit", r)
	}
}

func TestRulesInPlaceNeedsEverySetAndARuleInEveryChainThatExists(t *testing.T) {
	set := func(exists bool) ipsetstore.SetStatus { return ipsetstore.SetStatus{Exists: exists} }
	rule := func(chainExists bool, count int) ipsetstore.RuleStatus {
		return ipsetstore.RuleStatus{ChainExists: chainExists, Count: count, Present: count > 0}
	}
	cases := []struct {
		name string
		st   ipsetstore.Status
		want bool
	}{
		{"sets_and_rules_in_place", ipsetstore.Status{Sets: []ipsetstore.SetStatus{set(true), set(true)}, Rules: []ipsetstore.RuleStatus{rule(true, 1), rule(true, 1)}}, true},
		{"a_missing_set", ipsetstore.Status{Sets: []ipsetstore.SetStatus{set(true), set(false)}, Rules: []ipsetstore.RuleStatus{rule(true, 1)}}, false},
		{"a_flushed_chain", ipsetstore.Status{Sets: []ipsetstore.SetStatus{set(true)}, Rules: []ipsetstore.RuleStatus{rule(true, 1), rule(true, 0)}}, false},
		{"a_missing_docker_user_beside_input", ipsetstore.Status{Sets: []ipsetstore.SetStatus{set(true)}, Rules: []ipsetstore.RuleStatus{rule(true, 1), rule(false, 0)}}, true},
		{"no_chain_at_all", ipsetstore.Status{Sets: []ipsetstore.SetStatus{set(true)}, Rules: []ipsetstore.RuleStatus{rule(false, 0)}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rulesInPlace(c.st); got != c.want {
				t.Errorf("rulesInPlace = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDaemon_an_idle_unblock_is_notified_once_as_idle_never_as_an_unban(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IdleUnblock = 10 * day })
	h.writeMirror(autoLine("192.0.2.1", h.clock.now()))
	hook := recordNotifications(h)
	h.start()
	h.sampleHits(1)
	h.clock.advance(11 * day)
	h.sampleHits(2)
	h.eventually("the idle unblock's call", func() bool { return len(hook.calls()) >= 1 })
	if got := hook.calls(); len(got) != 1 || !slices.Equal(kinds(got[0]), []string{"unblock/idle 192.0.2.1/32"}) {
		t.Fatalf("hook calls = %v, want one unblock/idle of 192.0.2.1", got)
	}
	// Delivered and acknowledged before the stop: nothing is told twice.
	h.eventually("the outbox to empty", func() bool { st, err := notify.ReadStatus(h.cfg.StateDir); return err == nil && st.Outbox == 0 })
	h.d.Reconcile()
	h.stop()
	h.start()
	hook.quiet(1, "a reconcile and a restart after the idle unblock")
}
