package daemon

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

// netHarness is a daemon with net escalation on, one ban making an
// offender (the thresholds under test are the net ones).
func netHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	return newHarness(t, func(c *config.Config) {
		c.Threshold = 1
		c.Net.On = true
		if mutate != nil {
			mutate(c)
		}
	})
}

// offend makes each address an offender and waits until the mirror
// records it.
func (h *harness) offend(addrs ...string) {
	h.t.Helper()
	for _, a := range addrs {
		h.ban(time.Now(), "sshd", a)
	}
	for _, a := range addrs {
		h.eventually(a+" in the mirror", func() bool { return h.inMirror(a) })
	}
}

// netLine returns the mirror's net range p, if it lists one.
func (h *harness) netLine(p string) (blocklist.Entry, bool) {
	for _, e := range h.mirror() {
		if e.Net && e.Prefix == prefix(p) {
			return e, true
		}
	}
	return blocklist.Entry{}, false
}

func (h *harness) blocks(a string) bool { return h.fake.Blocks(netip.MustParseAddr(a)) }

func (h *harness) unbanNet(ps ...string) Unbanned {
	h.t.Helper()
	var pfx []netip.Prefix
	for _, p := range ps {
		pfx = append(pfx, prefix(p))
	}
	res, err := UnbanNet(blocklist.Open(statedir.Mirror(h.cfg.StateDir)), h.fake, pfx, h.cfg.Net, time.Now())
	if err != nil {
		h.t.Fatalf("UnbanNet(%v): %v", ps, err)
	}
	return res
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestNet_the_third_offender_of_a_slash_24_blocks_it_in_place_of_its_members(t *testing.T) {
	h := netHarness(t, nil)
	h.start()
	h.offend("198.51.100.7", "198.51.100.9")
	h.settle()
	if _, ok := h.netLine("198.51.100.0/24"); ok {
		t.Fatal("two offenders made a range; the threshold is 3")
	}
	if h.blocks("198.51.100.200") {
		t.Fatal("an address never seen is blocked before the threshold")
	}
	h.offend("198.51.100.33")
	h.eventually("the /24 in the mirror", func() bool { _, ok := h.netLine("198.51.100.0/24"); return ok })
	// The kernel follows inside the same transaction, just after the write.
	h.eventually("the /24 in the kernel", func() bool { return h.inSet("198.51.100.0/24") })
	r, _ := h.netLine("198.51.100.0/24")
	if !slices.Equal(r.Members, addrs("198.51.100.7", "198.51.100.9", "198.51.100.33")) || r.Bans != 3 {
		t.Errorf("range line = %q, want members .7, .9, .33 and 3 bans", r.String())
	}
	if !strings.Contains(r.String(), " net members=198.51.100.7,198.51.100.9,198.51.100.33") {
		t.Errorf("range line = %q, want it to say net members=…", r.String())
	}
	if !h.blocks("198.51.100.200") || !h.blocks("198.51.100.7") {
		t.Error("the /24 does not block an address never seen, or a member")
	}
	if h.inSet("198.51.100.7") || h.inSet("198.51.100.33") || !h.inSet("198.51.100.0/24") {
		t.Errorf("kernel holds %v, want the /24 in place of its members", mustList(t, h.fake))
	}
	if !h.inMirror("198.51.100.7") {
		t.Error("a member's own line left the mirror; it stays for its history")
	}
	// A reconcile, a restart and a restore put exactly that back.
	h.fake.FlushSets()
	h.d.Reconcile()
	if !h.inSet("198.51.100.0/24") || h.inSet("198.51.100.7") {
		t.Errorf("after a flush and a reconcile the kernel holds %v, want the /24 alone", mustList(t, h.fake))
	}
}

func TestNet_unban_of_a_member_punches_a_hole_and_below_the_threshold_the_range_collapses(t *testing.T) {
	h := netHarness(t, nil)
	hook := recordNotifications(h)
	h.start()
	h.offend("198.51.100.7", "198.51.100.9", "198.51.100.33", "198.51.100.44")
	h.eventually("the /24 in the kernel with its 4 members", func() bool {
		r, ok := h.netLine("198.51.100.0/24")
		return ok && len(r.Members) == 4 && h.inSet("198.51.100.0/24") && !h.inSet("198.51.100.44")
	})
	h.eventually("the escalate event", func() bool {
		return slices.ContainsFunc(hook.calls(), func(evs []notify.Event) bool {
			return slices.ContainsFunc(evs, func(e notify.Event) bool {
				return e.Kind == "escalate" && e.Prefix == "198.51.100.0/24" && len(e.Members) >= 3
			})
		})
	})

	res := h.unbanNet("198.51.100.9")
	if res.Holes[prefix("198.51.100.9")] != prefix("198.51.100.0/24") {
		t.Errorf("UnbanNet = %+v, want 198.51.100.9 a hole in the /24", res)
	}
	if h.blocks("198.51.100.9") {
		t.Error("the unbanned member is still blocked")
	}
	if !h.blocks("198.51.100.7") || !h.blocks("198.51.100.200") {
		t.Error("the rest of the range passes after one member's unban")
	}
	r, ok := h.netLine("198.51.100.0/24")
	if !ok || !slices.Equal(r.Members, addrs("198.51.100.7", "198.51.100.33", "198.51.100.44")) || !slices.Equal(r.Holes, []netip.Prefix{prefix("198.51.100.9")}) {
		t.Errorf("range line after the unban = %q, want members .7,.33,.44 and hole .9", r.String())
	}
	if h.inMirror("198.51.100.9") {
		t.Error("the unbanned member's own line is still in the mirror")
	}
	h.eventually("the daemon forgives the unbanned member", func() bool {
		return strings.Contains(h.logs.String(), "unblocked and forgiven") && strings.Contains(h.logs.String(), "198.51.100.9")
	})
	// Restore from the mirror alone gives the same kernel: range and hole.
	fresh, err := ipsettest.New(ipsetstore.Config{SetName: h.cfg.SetName, Chains: h.cfg.Chains, Target: h.cfg.Target})
	if err != nil {
		t.Fatal(err)
	}
	if err := Restore(fresh, h.mirror(), time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got, want := mustList(t, fresh), mustList(t, h.fake); !slices.Equal(got, want) {
		t.Errorf("restore from the mirror gives %v, the live kernel holds %v", got, want)
	}

	res = h.unbanNet("198.51.100.33")
	if _, ok := h.netLine("198.51.100.0/24"); ok || len(res.Collapsed) != 1 {
		t.Fatalf("after a second unban (2 members left, threshold 3) the range stays: %+v\n%v", res, h.mirror())
	}
	if !h.blocks("198.51.100.7") || !h.blocks("198.51.100.44") {
		t.Error("a remaining member passes after the collapse")
	}
	if h.blocks("198.51.100.200") || h.blocks("198.51.100.9") || h.blocks("198.51.100.33") {
		t.Error("after the collapse an address that is no member is still blocked")
	}
	h.eventually("an unblock event of the range with reason range-collapse", func() bool {
		return slices.ContainsFunc(hook.calls(), func(evs []notify.Event) bool {
			return slices.ContainsFunc(evs, func(e notify.Event) bool {
				return e.Kind == "unblock" && e.Prefix == "198.51.100.0/24" && e.Reason == "range-collapse"
			})
		})
	})
}

func TestNet_unban_of_the_range_lets_the_whole_network_through_members_included(t *testing.T) {
	h := netHarness(t, nil)
	h.start()
	h.offend("198.51.100.7", "198.51.100.9", "198.51.100.33")
	h.eventually("the /24 in the kernel", func() bool { return h.inSet("198.51.100.0/24") })
	res := h.unbanNet("198.51.100.0/24")
	if len(res.Removed) != 4 {
		t.Errorf("removed %v, want the range and its 3 members", res.Removed)
	}
	for _, a := range []string{"198.51.100.7", "198.51.100.9", "198.51.100.33", "198.51.100.200"} {
		if h.blocks(a) {
			t.Errorf("%s is still blocked after the range's unban", a)
		}
	}
	if len(h.mirror()) != 0 {
		t.Errorf("mirror after the range's unban = %v, want empty", h.mirror())
	}
}

func TestNet_escalation_is_refused_near_ignore_and_local_addresses_and_past_net_max_ranges(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*config.Config)
		local   []netip.Addr
		refused []string // networks refused, with the log's reason
		made    []string
	}{
		{"an_ignore_entry_inside", func(c *config.Config) { c.Ignore = []netip.Prefix{prefix("198.51.100.250")} }, nil,
			[]string{"198.51.100.0/24", "ignore"}, nil},
		{"an_address_of_this_host_inside", nil, addrs("198.51.100.1"),
			[]string{"198.51.100.0/24", "an address of this host"}, nil},
		{"net_max_ranges_reached", func(c *config.Config) { c.Net.MaxRanges = 1 }, nil,
			[]string{"203.0.113.0/24", "net-max-ranges"}, []string{"198.51.100.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := netHarness(t, tt.mutate)
			h.local = func() []netip.Addr { return tt.local }
			h.start()
			h.offend("198.51.100.7", "198.51.100.9", "198.51.100.33")
			if len(tt.made) > 0 {
				h.eventually("the first range", func() bool { return h.inSet(tt.made[0]) })
			}
			h.offend("203.0.113.7", "203.0.113.9", "203.0.113.33")
			h.eventually("the refusal logged", func() bool {
				return strings.Contains(h.logs.String(), "net escalation refused") && strings.Contains(h.logs.String(), tt.refused[1])
			})
			if _, ok := h.netLine(tt.refused[0]); ok {
				t.Errorf("%s was escalated; want it refused (%s)", tt.refused[0], tt.refused[1])
			}
			if h.blocks(strings.TrimSuffix(tt.refused[0], "0/24") + "200") {
				t.Errorf("an address never seen of the refused %s is blocked", tt.refused[0])
			}
			if !h.blocks(strings.TrimSuffix(tt.refused[0], "0/24") + "7") {
				t.Error("a member of a refused network is no longer blocked on its own")
			}
		})
	}
}

func TestKernelEntries_hide_members_and_spell_holes_as_nomatch_entries(t *testing.T) {
	now := time.Now()
	es := []blocklist.Entry{
		{Prefix: prefix("198.51.100.7"), Bans: 3},
		{Prefix: prefix("198.51.100.33"), Bans: 3},
		{Prefix: prefix("198.51.100.0/24"), Net: true, Members: addrs("198.51.100.7", "198.51.100.33"), Holes: []netip.Prefix{prefix("198.51.100.8"), prefix("198.51.100.9")}},
		{Prefix: prefix("203.0.113.1"), Bans: 3},
	}
	got := kernelEntries(es, now)
	want := []ipsetstore.Entry{
		{Prefix: prefix("198.51.100.0/24"), Comment: "recidivist"},
		{Prefix: prefix("203.0.113.1"), Comment: "recidivist"},
		{Prefix: prefix("198.51.100.8/31"), NoMatch: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("kernelEntries = %v, want %v", got, want)
	}
}

func mustList(t *testing.T, s ipsetstore.Store) []ipsetstore.Entry {
	t.Helper()
	es, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestExchangeOf_closing_a_hole_writes_its_range_again_and_deletes_the_address(t *testing.T) {
	r := ipsetstore.Entry{Prefix: prefix("198.51.100.0/24"), Comment: "recidivist"}
	before := []ipsetstore.Entry{r, {Prefix: prefix("198.51.100.9"), NoMatch: true}, {Prefix: prefix("198.51.100.9"), Comment: "recidivist"}}
	add, del := exchangeOf(before, []ipsetstore.Entry{r})
	if !slices.Equal(add, []ipsetstore.Entry{r}) || !slices.Equal(del, []netip.Prefix{prefix("198.51.100.9"), prefix("198.51.100.9")}) {
		t.Errorf("exchangeOf = add %v, del %v; want the range written again and 198.51.100.9 deleted", add, del)
	}
	add, del = exchangeOf([]ipsetstore.Entry{r}, []ipsetstore.Entry{r})
	if len(add)+len(del) != 0 {
		t.Errorf("exchangeOf of an unchanged range = add %v, del %v; want nothing", add, del)
	}
}

// delRecorder is the fake kernel, recording every prefix Del is given.
type delRecorder struct {
	*ipsettest.Fake
	mu   sync.Mutex
	dels []netip.Prefix
}

func (r *delRecorder) Del(ps ...netip.Prefix) error {
	r.mu.Lock()
	r.dels = append(r.dels, ps...)
	r.mu.Unlock()
	return r.Fake.Del(ps...)
}

func (r *delRecorder) deleted(p netip.Prefix) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.dels, p)
}

func TestNet_a_member_that_expires_behind_its_range_is_not_deleted_from_the_kernel(t *testing.T) {
	h := netHarness(t, func(c *config.Config) { c.BanTime = time.Hour })
	rec := &delRecorder{Fake: h.fake}
	h.store = rec
	h.start()
	now := time.Now()
	h.ban(now.Add(-50*time.Minute), "sshd", "198.51.100.7") // expires in 10 minutes
	h.ban(now, "sshd", "198.51.100.9")
	h.ban(now, "sshd", "198.51.100.33")
	h.eventually("the /24 in the kernel", func() bool { return h.inSet("198.51.100.0/24") })
	h.clock.advance(15 * time.Minute)
	h.d.Reconcile()
	h.eventually("198.51.100.7 expired from the mirror", func() bool { return !h.inMirror("198.51.100.7") })
	if rec.deleted(prefix("198.51.100.7")) {
		t.Error("the expired member was deleted from the kernel: on nftables that can take a piece of its range")
	}
	if !h.blocks("198.51.100.7") || !h.inSet("198.51.100.0/24") {
		t.Error("the range no longer blocks the expired member's address; it stays until its last member expires")
	}
}

func TestNet_two_offenders_of_one_ipv6_slash_64_block_it(t *testing.T) {
	h := netHarness(t, nil)
	h.start()
	h.offend("2001:db8:1::7", "2001:db8:2::7") // two networks, one each
	h.settle()
	if h.blocks("2001:db8:1::99") {
		t.Fatal("one offender made a /64; the IPv6 threshold is 2")
	}
	h.offend("2001:db8:1::8")
	h.eventually("the /64 in the kernel", func() bool { return h.inSet("2001:db8:1::/64") })
	if !h.blocks("2001:db8:1::99") || h.blocks("2001:db8:2::99") {
		t.Error("the /64 of the two offenders does not block a third address, or the other /64 is blocked")
	}
}
