package ipsetstore_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

// subject is a Store under test plus the ways an admin breaks it behind
// its back.
type subject struct {
	store ipsetstore.Store
	// flushRules is iptables -F / ip6tables -F on every configured chain.
	flushRules func()
	// buryRule inserts a foreign rule above ours in every chain.
	buryRule func()
	// flushSets is ipset flush of both sets.
	flushSets func()
	// destroySets is iptables -F, then ipset destroy of both sets.
	destroySets func()
}

// makeSubject builds a fresh subject for cfg.
type makeSubject func(t *testing.T, cfg ipsetstore.Config) subject

func fakeSubject(t *testing.T, cfg ipsetstore.Config) subject {
	t.Helper()
	f, err := ipsettest.New(cfg)
	if err != nil {
		t.Fatalf("ipsettest.New: %v", err)
	}
	return subject{
		store:      f,
		flushRules: f.FlushRules,
		buryRule: func() {
			for _, c := range cfg.Chains {
				for _, fam := range ipsetstore.Families {
					f.BuryRule(c, fam)
				}
			}
		},
		flushSets:   f.FlushSets,
		destroySets: f.DestroySets,
	}
}

func kernelSubject(t *testing.T, cfg ipsetstore.Config) subject {
	t.Helper()
	s := newKernelStore(t, cfg)
	flush := func() {
		for _, c := range cfg.Chains {
			run(t, "iptables", "-F", c)
			run(t, "ip6tables", "-F", c)
		}
	}
	return subject{
		store:      s,
		flushRules: flush,
		buryRule: func() {
			for _, c := range cfg.Chains {
				run(t, "iptables", "-I", c, "1", "-s", "192.0.2.99", "-j", "ACCEPT")
				run(t, "ip6tables", "-I", c, "1", "-s", "2001:db8::99", "-j", "ACCEPT")
			}
		},
		flushSets: func() {
			run(t, "ipset", "flush", cfg.SetName)
			run(t, "ipset", "flush", cfg.SetName+"6")
		},
		destroySets: func() {
			flush()
			run(t, "ipset", "destroy", cfg.SetName)
			run(t, "ipset", "destroy", cfg.SetName+"6")
		},
	}
}

func testConfig() ipsetstore.Config {
	return ipsetstore.Config{SetName: "rcdv-test", Chains: []string{"INPUT", "FORWARD"}, Target: "DROP"}
}

// conformance is the behaviour every Store must have; it runs against the
// fake always and against the kernel when root.
var conformance = []struct {
	name string
	cfg  func(*ipsetstore.Config)
	run  func(t *testing.T, s subject)
}{
	{"ensure_creates_both_sets_and_one_rule_per_chain_and_family_and_ten_runs_change_nothing", nil, func(t *testing.T, s subject) {
		r := mustEnsure(t, s.store)
		if len(r.SetsCreated) != 2 || len(r.RulesCreated) != 4 || len(r.RulesFixed) != 0 {
			t.Fatalf("first Ensure repaired %+v, want 2 sets and 4 rules created", r)
		}
		for i := range 10 {
			if r := mustEnsure(t, s.store); r.Changed() {
				t.Fatalf("Ensure #%d repaired %v on a healthy kernel", i+2, r)
			}
		}
		st := mustStatus(t, s.store)
		if !st.Healthy() || len(st.Sets) != 2 || len(st.Rules) != 4 {
			t.Fatalf("status after Ensure: %+v", st)
		}
		for _, set := range st.Sets {
			if set.MaxElem != ipsetstore.DefaultMaxElem {
				t.Errorf("set %s has maxelem %d, want %d", set.Name, set.MaxElem, ipsetstore.DefaultMaxElem)
			}
		}
	}},
	{"ensure_recreates_flushed_rules_and_puts_buried_ones_back_on_top", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		s.flushRules()
		if st := mustStatus(t, s.store); st.Healthy() {
			t.Fatal("status is healthy after the rules were flushed")
		}
		if r := mustEnsure(t, s.store); len(r.RulesCreated) != 4 {
			t.Fatalf("Ensure after flush repaired %v, want 4 rules created", r)
		}
		s.buryRule()
		if r := mustEnsure(t, s.store); len(r.RulesFixed) != 4 {
			t.Fatalf("Ensure after burying repaired %v, want 4 rules fixed", r)
		}
		if st := mustStatus(t, s.store); !st.Healthy() {
			t.Fatalf("status after repair: %+v", st)
		}
	}},
	{"ensure_rules_puts_flushed_rules_back_and_leaves_the_sets_and_their_entries_alone", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("203.0.113.7"), Comment: "kept"})
		s.flushRules() // ufw with MANAGE_BUILTINS=yes, before its after.init hook
		r, err := s.store.EnsureRules()
		if err != nil {
			t.Fatalf("EnsureRules after the rules were flushed: %v", err)
		}
		if len(r.RulesCreated) != 4 || len(r.SetsCreated) != 0 || len(r.SetsMissing) != 0 {
			t.Fatalf("EnsureRules after flush repaired %+v, want 4 rules created and no set touched", r)
		}
		if st := mustStatus(t, s.store); !st.Healthy() {
			t.Fatalf("status after EnsureRules: %+v", st)
		}
		if es := mustList(t, s.store); len(es) != 1 || es[0].Comment != "kept" {
			t.Fatalf("the sets after EnsureRules hold %+v, want the entry as it was", es)
		}
		if r, err := s.store.EnsureRules(); err != nil || r.Changed() {
			t.Fatalf("a second EnsureRules repaired %+v (%v), want nothing", r, err)
		}
	}},
	{"ensure_rules_without_the_sets_creates_nothing_and_names_them", nil, func(t *testing.T, s subject) {
		r, err := s.store.EnsureRules()
		if err != nil {
			t.Fatalf("EnsureRules with no sets: %v", err)
		}
		if r.Changed() || len(r.SetsMissing) != 2 {
			t.Fatalf("EnsureRules with no sets repaired %+v, want nothing done and both sets named missing", r)
		}
		st := mustStatus(t, s.store)
		for _, set := range st.Sets {
			if set.Exists {
				t.Errorf("EnsureRules created set %s", set.Name)
			}
		}
		for _, rule := range st.Rules {
			if rule.Count != 0 {
				t.Errorf("EnsureRules with no sets put a rule in %s/%s", rule.Chain, rule.Family)
			}
		}
	}},
	{"add_and_list_keep_ipv4_ipv6_ranges_comments_and_timeouts", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		in := []ipsetstore.Entry{
			{Prefix: pfx("203.0.113.7"), Comment: "recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3"},
			{Prefix: pfx("198.51.100.0/24")},
			{Prefix: pfx("10.9.8.7/16"), Comment: "masked"},
			{Prefix: pfx("2001:db8::1"), Timeout: 100 * time.Second},
			{Prefix: pfx("2001:db8:1::/48"), Comment: "range"},
		}
		for _, e := range in {
			if err := s.store.Add(e); err != nil {
				t.Fatalf("Add(%v): %v", e, err)
			}
		}
		got := byPrefix(mustList(t, s.store))
		want := map[netip.Prefix]string{
			pfx("203.0.113.7"): in[0].Comment, pfx("198.51.100.0/24"): "", pfx("10.9.0.0/16"): "masked",
			pfx("2001:db8::1"): "", pfx("2001:db8:1::/48"): "range",
		}
		if len(got) != len(want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
		for p, c := range want {
			e, ok := got[p]
			if !ok || e.Comment != c {
				t.Errorf("entry %s = %+v (present %v), want comment %q", p, e, ok, c)
			}
		}
		if to := got[pfx("2001:db8::1")].Timeout; to < 95*time.Second || to > 100*time.Second {
			t.Errorf("remaining timeout of 2001:db8::1 = %v, want just under 100s", to)
		}
		if to := got[pfx("203.0.113.7")].Timeout; to != 0 {
			t.Errorf("permanent entry lists timeout %v, want 0", to)
		}
	}},
	{"adding_an_existing_entry_updates_it_without_error", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		p := pfx("192.0.2.1")
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: p, Comment: "old", Timeout: time.Hour})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: p, Comment: "new"})
		got := mustList(t, s.store)
		if len(got) != 1 || got[0].Comment != "new" || got[0].Timeout != 0 {
			t.Fatalf("List after update = %+v, want one permanent entry commented new", got)
		}
	}},
	{"del_removes_the_entry_and_deleting_an_absent_one_is_no_error", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("192.0.2.1")})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("2001:db8::/64")})
		for _, p := range []netip.Prefix{pfx("192.0.2.1"), pfx("2001:db8::/64"), pfx("192.0.2.1"), pfx("198.51.100.0/24")} {
			if err := s.store.Del(p); err != nil {
				t.Fatalf("Del(%s): %v", p, err)
			}
		}
		if got := mustList(t, s.store); len(got) != 0 {
			t.Fatalf("List after Del = %v, want empty", got)
		}
	}},
	{"a_full_set_refuses_the_next_entry_with_ErrSetFull_and_keeps_the_others", func(c *ipsetstore.Config) { c.MaxElem = 4 }, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		for i := range 4 {
			mustAdd(t, s.store, ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 32)})
		}
		err := s.store.Add(ipsetstore.Entry{Prefix: pfx("192.0.2.5")})
		if !errors.Is(err, ipsetstore.ErrSetFull) {
			t.Fatalf("5th Add into maxelem 4: %v, want ErrSetFull", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "rcdv-test") || !strings.Contains(msg, "maxelem") {
			t.Errorf("full-set error %q does not name the set and maxelem", msg)
		}
		if msg := err.Error(); strings.Contains(msg, "raise maxelem") || strings.Contains(msg, "recidivist restore") {
			t.Errorf("full-set error %q tells the user what to do: that is the command's to say, once", msg)
		}
		if got := mustList(t, s.store); len(got) != 4 {
			t.Fatalf("after the refused Add the set holds %d entries, want the 4", len(got))
		}
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("192.0.2.1"), Comment: "update"}) // updating stays possible
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("2001:db8::1")})                  // the other family has room
	}},
	{"replace_leaves_exactly_the_new_entries", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("192.0.2.1")})
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("2001:db8::1")})
		next := []ipsetstore.Entry{{Prefix: pfx("198.51.100.7"), Comment: "kept"}, {Prefix: pfx("2001:db8:2::/48")}}
		if err := s.store.Replace(next, nil); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		got := byPrefix(mustList(t, s.store))
		if len(got) != 2 || got[pfx("198.51.100.7")].Comment != "kept" || !has(got, pfx("2001:db8:2::/48")) {
			t.Fatalf("after Replace List = %v, want exactly %v", got, next)
		}
		if st := mustStatus(t, s.store); !st.Healthy() {
			t.Fatalf("after Replace the rules or sets are not right: %+v", st)
		}
	}},
	{"add_and_del_take_many_entries_of_both_families_in_one_call", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		var es []ipsetstore.Entry
		var ps []netip.Prefix
		for i := range 100 { // nftables: one transaction per entry, ~10 ms each under load
			e4 := ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32), Comment: "batch"}
			e6 := ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 128)}
			es = append(es, e4, e6)
			if i%2 == 0 {
				ps = append(ps, e4.Prefix, e6.Prefix)
			}
		}
		if err := s.store.Add(es...); err != nil {
			t.Fatalf("Add of %d entries: %v", len(es), err)
		}
		if got := byPrefix(mustList(t, s.store)); len(got) != len(es) || got[es[0].Prefix].Comment != "batch" {
			t.Fatalf("after Add of %d entries List holds %d (first: %+v)", len(es), len(got), got[es[0].Prefix])
		}
		ps = append(ps, pfx("192.0.2.200")) // absent: no error
		if err := s.store.Del(ps...); err != nil {
			t.Fatalf("Del of %d prefixes: %v", len(ps), err)
		}
		got := byPrefix(mustList(t, s.store))
		if len(got) != len(es)-(len(ps)-1) || has(got, ps[0]) || !has(got, es[2].Prefix) {
			t.Fatalf("after Del of %d prefixes List holds %d, want %d", len(ps)-1, len(got), len(es)-(len(ps)-1))
		}
	}},
	{"replace_reports_every_entry_it_loaded_to_its_progress_argument", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		next := []ipsetstore.Entry{{Prefix: pfx("198.51.100.7")}, {Prefix: pfx("198.51.100.8")}, {Prefix: pfx("2001:db8:2::/48")}}
		heard := 0
		if err := s.store.Replace(next, func(n int) { heard += n }); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		if heard != len(next) {
			t.Errorf("progress heard %d entries, want the %d loaded", heard, len(next))
		}
	}},
	{"replace_beyond_maxelem_fails_with_ErrSetFull_and_changes_nothing", func(c *ipsetstore.Config) { c.MaxElem = 2 }, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("192.0.2.1")})
		err := s.store.Replace([]ipsetstore.Entry{{Prefix: pfx("198.51.100.1")}, {Prefix: pfx("198.51.100.2")}, {Prefix: pfx("198.51.100.3")}}, nil)
		if !errors.Is(err, ipsetstore.ErrSetFull) {
			t.Fatalf("Replace with 3 entries into maxelem 2: %v, want ErrSetFull", err)
		}
		if got := mustList(t, s.store); len(got) != 1 || got[0].Prefix != pfx("192.0.2.1") {
			t.Fatalf("after the failed Replace List = %v, want the old content", got)
		}
	}},
	{"a_zero_length_prefix_is_refused", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		if err := s.store.Add(ipsetstore.Entry{Prefix: pfx("0.0.0.0/0")}); !errors.Is(err, ipsetstore.ErrBadPrefix) {
			t.Fatalf("Add(0.0.0.0/0) = %v, want ErrBadPrefix", err)
		}
	}},
	{"teardown_removes_rules_and_sets_and_a_second_teardown_is_no_error", nil, func(t *testing.T, s subject) {
		mustEnsure(t, s.store)
		mustAdd(t, s.store, ipsetstore.Entry{Prefix: pfx("192.0.2.1")})
		for i := range 2 {
			if err := s.store.Teardown(); err != nil {
				t.Fatalf("Teardown #%d: %v", i+1, err)
			}
		}
		st := mustStatus(t, s.store)
		for _, set := range st.Sets {
			if set.Exists {
				t.Errorf("set %s still exists after Teardown", set.Name)
			}
		}
		for _, r := range st.Rules {
			if r.Count != 0 {
				t.Errorf("%s/%s still has %d rules after Teardown", r.Chain, r.Family, r.Count)
			}
		}
		if err := s.store.Add(ipsetstore.Entry{Prefix: pfx("192.0.2.1")}); !errors.Is(err, ipsetstore.ErrNoSet) {
			t.Errorf("Add after Teardown = %v, want ErrNoSet", err)
		}
		if err := s.store.Del(pfx("192.0.2.1")); err != nil {
			t.Errorf("Del after Teardown = %v, want nil (nothing to unblock)", err)
		}
		if got := mustList(t, s.store); len(got) != 0 {
			t.Errorf("List after Teardown = %v, want empty", got)
		}
	}},
	{"reconcile_heals_flushed_and_destroyed_sets_and_then_has_nothing_to_do", nil, func(t *testing.T, s subject) {
		want := []ipsetstore.Entry{{Prefix: pfx("192.0.2.1"), Comment: "a"}, {Prefix: pfx("2001:db8::/64"), Comment: "b", Timeout: time.Hour}}
		rep := mustReconcile(t, s.store, want)
		if rep.Added != 2 || len(rep.SetsCreated) != 2 {
			t.Fatalf("first Reconcile = %+v, want 2 sets created and 2 added", rep)
		}
		if rep := mustReconcile(t, s.store, want); rep.Changed() {
			t.Fatalf("second Reconcile changed %v", rep)
		}
		s.flushSets()
		if rep := mustReconcile(t, s.store, want); rep.Added != 2 || rep.Repairs.Changed() {
			t.Fatalf("Reconcile after ipset flush = %+v, want 2 added", rep)
		}
		s.destroySets()
		rep = mustReconcile(t, s.store, want)
		if rep.Added != 2 || len(rep.SetsCreated) != 2 || len(rep.RulesCreated) != 4 {
			t.Fatalf("Reconcile after ipset destroy = %+v, want sets, rules and entries back", rep)
		}
		if got := byPrefix(mustList(t, s.store)); len(got) != 2 || got[pfx("2001:db8::/64")].Comment != "b" {
			t.Fatalf("after healing List = %v", got)
		}
	}},
	{"reconcile_of_a_member_inside_a_wanted_range_settles_and_unblocking_the_range_keeps_the_member", nil, func(t *testing.T, s subject) {
		member := ipsetstore.Entry{Prefix: pfx("192.0.2.7"), Comment: "member"}
		want := []ipsetstore.Entry{{Prefix: pfx("192.0.2.0/24"), Comment: "range"}, member}
		mustReconcile(t, s.store, want)
		if rep := mustReconcile(t, s.store, want); rep.Changed() {
			t.Fatalf("second Reconcile of a range and its member changed %v", rep)
		}
		mustReconcile(t, s.store, []ipsetstore.Entry{member})
		if got := byPrefix(mustList(t, s.store)); len(got) != 1 || !has(got, member.Prefix) {
			t.Fatalf("after the range was unblocked List = %v, want the member alone", got)
		}
	}},
	{"reconcile_removes_extra_updates_changed_and_ignores_a_ticking_timeout", nil, func(t *testing.T, s subject) {
		mustReconcile(t, s.store, []ipsetstore.Entry{
			{Prefix: pfx("192.0.2.1")}, {Prefix: pfx("192.0.2.2"), Comment: "old"}, {Prefix: pfx("192.0.2.3"), Timeout: time.Hour},
		})
		rep := mustReconcile(t, s.store, []ipsetstore.Entry{
			{Prefix: pfx("192.0.2.2"), Comment: "new"}, {Prefix: pfx("192.0.2.3"), Timeout: time.Hour - 2*time.Second},
		})
		if rep.Removed != 1 || rep.Updated != 1 || rep.Added != 0 {
			t.Fatalf("Reconcile = %+v, want 1 removed (192.0.2.1), 1 updated (comment), the ticking timeout left alone", rep)
		}
	}},
	{"reconcile_from_an_earlier_listing_applies_the_difference_to_the_sets_as_they_are_now", nil, func(t *testing.T, s subject) {
		mustReconcile(t, s.store, []ipsetstore.Entry{{Prefix: pfx("192.0.2.1")}, {Prefix: pfx("192.0.2.2")}})
		have := mustList(t, s.store)
		// Changes made after the listing that want accounts for: one more
		// entry added, one taken out.
		if err := s.store.Add(ipsetstore.Entry{Prefix: pfx("192.0.2.3")}); err != nil {
			t.Fatal(err)
		}
		if err := s.store.Del(pfx("192.0.2.2")); err != nil {
			t.Fatal(err)
		}
		rep, err := ipsetstore.ReconcileListed(s.store, have, []ipsetstore.Entry{{Prefix: pfx("192.0.2.3")}, {Prefix: pfx("2001:db8::9")}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Added != 2 || rep.Removed != 2 {
			t.Errorf("ReconcileListed = %+v, want 2 added (192.0.2.3 again, 2001:db8::9) and 2 removed (192.0.2.1, 192.0.2.2 again)", rep)
		}
		got := byPrefix(mustList(t, s.store))
		if len(got) != 2 || got[pfx("192.0.2.3")].Prefix != pfx("192.0.2.3") || got[pfx("2001:db8::9")].Prefix != pfx("2001:db8::9") {
			t.Errorf("sets hold %v, want exactly 192.0.2.3 and 2001:db8::9", got)
		}
	}},
}

func TestConformanceFake(t *testing.T) { runConformance(t, fakeSubject) }

func TestConformanceKernel(t *testing.T) { runConformance(t, kernelSubject) }

func runConformance(t *testing.T, mk makeSubject) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			c.run(t, mk(t, cfg))
		})
	}
}

func mustEnsure(t *testing.T, s ipsetstore.Store) ipsetstore.Repairs {
	t.Helper()
	r, err := s.Ensure()
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return r
}

func mustStatus(t *testing.T, s ipsetstore.Store) ipsetstore.Status {
	t.Helper()
	st, err := s.Status()
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st
}

func mustAdd(t *testing.T, s ipsetstore.Store, e ipsetstore.Entry) {
	t.Helper()
	if err := s.Add(e); err != nil {
		t.Fatalf("Add(%v): %v", e, err)
	}
}

func mustList(t *testing.T, s ipsetstore.Store) []ipsetstore.Entry {
	t.Helper()
	es, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return es
}

func mustReconcile(t *testing.T, s ipsetstore.Store, want []ipsetstore.Entry) ipsetstore.Report {
	t.Helper()
	rep, err := ipsetstore.Reconcile(s, want)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return rep
}

func byPrefix(es []ipsetstore.Entry) map[netip.Prefix]ipsetstore.Entry {
	m := make(map[netip.Prefix]ipsetstore.Entry, len(es))
	for _, e := range es {
		m[e.Prefix] = e
	}
	return m
}

func has(m map[netip.Prefix]ipsetstore.Entry, p netip.Prefix) bool {
	_, ok := m[p]
	return ok
}
