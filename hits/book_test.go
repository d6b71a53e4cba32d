package hits_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
)

var (
	t0   = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	addr = netip.MustParsePrefix("192.0.2.7/32")
	auto = blocklist.Entry{Prefix: addr, Added: t0, Jails: []string{"sshd"}, Bans: 3}
	day  = 24 * time.Hour
)

// sample is one sampling of the test: at day At, the counter (-1: not in
// the listing, -2: the listing failed), blind or not.
type sample struct {
	at      int
	packets int
	blind   bool
}

func run(b *hits.Book, samples []sample) {
	for _, s := range samples {
		var listed []ipsetstore.Counted
		switch s.packets {
		case -2:
			listed = nil
		case -1:
			listed = []ipsetstore.Counted{}
		default:
			listed = []ipsetstore.Counted{{Entry: ipsetstore.Entry{Prefix: addr}, Packets: uint64(s.packets), Bytes: 60 * uint64(s.packets)}}
		}
		b.Sample(t0.Add(time.Duration(s.at)*day), []blocklist.Entry{auto}, listed, s.blind)
	}
}

func TestIdleTimeFollowsTheCountersAndNeverRunsWhileBlind(t *testing.T) {
	cases := []struct {
		name     string
		samples  []sample
		wantIdle int // days, at the last sample
		wantHit  int // day of the last hit, -1 none
	}{
		{"a_block_never_hit_ages_from_when_it_was_added", []sample{{1, 0, false}, {10, 0, false}}, 10, -1},
		{"a_growing_counter_is_a_hit", []sample{{1, 0, false}, {5, 4, false}, {12, 4, false}}, 7, 5},
		{"packets_at_the_first_sample_are_a_hit", []sample{{3, 9, false}, {4, 9, false}}, 1, 3},
		{"a_counter_that_went_down_is_a_reset_not_a_hit", []sample{{1, 5, false}, {2, 5, false}, {3, 0, false}, {9, 0, false}}, 7, 1},
		{"a_reset_counter_with_packets_is_a_hit", []sample{{1, 50, false}, {3, 2, false}}, 0, 3},
		{"the_interval_of_a_reset_ages_nothing", []sample{{1, 5, false}, {2, 5, false}, {30, 0, false}}, 1, 1},
		{"a_missing_rule_ages_nothing", []sample{{1, 0, false}, {2, 0, false}, {50, 0, true}, {51, 0, false}}, 3, -1},
		{"a_hit_seen_while_blind_still_counts", []sample{{1, 0, false}, {6, 2, true}, {8, 2, false}}, 2, 6},
		{"a_failed_listing_ages_nothing", []sample{{1, 0, false}, {2, 0, false}, {40, -2, false}, {41, 0, false}}, 3, -1},
		{"an_entry_missing_from_the_kernel_ages_nothing", []sample{{1, 0, false}, {2, -1, false}, {20, -1, false}, {21, 0, false}}, 2, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b hits.Book
			run(&b, c.samples)
			now := t0.Add(time.Duration(c.samples[len(c.samples)-1].at) * day)
			if got := b.Idle(auto, now); got != time.Duration(c.wantIdle)*day {
				t.Errorf("idle %v, want %d days", got, c.wantIdle)
			}
			r := b.Records[addr]
			switch {
			case c.wantHit < 0 && !r.LastHit.IsZero():
				t.Errorf("last hit %v, want none", r.LastHit)
			case c.wantHit >= 0 && !r.LastHit.Equal(t0.Add(time.Duration(c.wantHit)*day)):
				t.Errorf("last hit %v, want day %d", r.LastHit, c.wantHit)
			}
		})
	}
}

func TestSampleCountsThePacketsEachCounterGained(t *testing.T) {
	var b hits.Book
	v6 := blocklist.Entry{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Added: t0}
	es := []blocklist.Entry{auto, v6}
	c := func(p netip.Prefix, n uint64) ipsetstore.Counted {
		return ipsetstore.Counted{Entry: ipsetstore.Entry{Prefix: p}, Packets: n}
	}
	got := b.Sample(t0.Add(time.Hour), es, []ipsetstore.Counted{c(addr, 3), c(v6.Prefix, 0)}, false)
	if got[ipsetstore.IPv4] != 3 || got[ipsetstore.IPv6] != 0 {
		t.Errorf("first sample counted %v, want 3 inet", got)
	}
	got = b.Sample(t0.Add(2*time.Hour), es, []ipsetstore.Counted{c(addr, 10), c(v6.Prefix, 4)}, false)
	if got[ipsetstore.IPv4] != 7 || got[ipsetstore.IPv6] != 4 {
		t.Errorf("second sample counted %v, want 7 inet, 4 inet6", got)
	}
	got = b.Sample(t0.Add(3*time.Hour), es, []ipsetstore.Counted{c(addr, 1), c(v6.Prefix, 4)}, false)
	if got[ipsetstore.IPv4] != 1 || got[ipsetstore.IPv6] != 0 {
		t.Errorf("after a reset counted %v, want 1 inet (all of the new counter)", got)
	}
}

func TestSampleForgetsEntriesThatLeftTheBlocklist(t *testing.T) {
	var b hits.Book
	b.Sample(t0.Add(day), []blocklist.Entry{auto}, []ipsetstore.Counted{{Entry: ipsetstore.Entry{Prefix: addr}, Packets: 1}}, false)
	b.Sample(t0.Add(2*day), nil, nil, false)
	if len(b.Records) != 0 {
		t.Errorf("records %v after the entry left, want none", b.Records)
	}
}

func TestABookSavedAndLoadedSamplesOnAsBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hits")
	var live hits.Book
	run(&live, []sample{{1, 0, false}, {3, 2, false}, {5, 2, false}})
	if err := hits.Save(path, &live); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, %v; want mode 0600", fi, err)
	}
	restarted, err := hits.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Both go on: the loaded one must decide exactly as the one that ran.
	more := []sample{{7, 2, false}, {9, 6, false}, {20, 6, false}}
	run(&live, more)
	run(restarted, more)
	now := t0.Add(20 * day)
	if a, b := live.Idle(auto, now), restarted.Idle(auto, now); a != b || a != 11*day {
		t.Errorf("idle after restart %v, without %v; want 11 days both", b, a)
	}
	if !restarted.Records[addr].LastHit.Equal(t0.Add(9 * day)) {
		t.Errorf("last hit after restart %v, want day 9", restarted.Records[addr].LastHit)
	}
}

func TestLoadOfNoFileIsAnEmptyBookAndOfAGarbledOneNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	b, err := hits.Load(filepath.Join(dir, "none"))
	if err != nil || len(b.Records) != 0 || !b.Sampled.IsZero() {
		t.Fatalf("Load of no file = %+v, %v; want an empty book", b, err)
	}
	path := filepath.Join(dir, "hits")
	os.WriteFile(path, []byte("# recidivist hits v1 sampled=0\n192.0.2.1 1 2 3\n"), 0o600) //nolint:errcheck // read back below
	if _, err := hits.Load(path); err == nil || !strings.Contains(err.Error(), path+":2") {
		t.Errorf("Load of a bad line = %v, want an error naming %s:2", err, path)
	}
}

func TestOnlyAutomaticBlocksAreUnblockableUnlessManualToo(t *testing.T) {
	manual := blocklist.Entry{Prefix: addr, Added: t0, Manual: true}
	rng := blocklist.Entry{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Added: t0, Jails: []string{"sshd"}, Comment: "net members=3"}
	hand := blocklist.Entry{Prefix: addr}
	fleet := blocklist.Entry{Prefix: addr, Added: t0, Jails: []string{"sshd"}, Comment: "fleet:web2"}
	cases := []struct {
		name      string
		e         blocklist.Entry
		manualToo bool
		want      bool
	}{
		{"an_offender_is", auto, false, true},
		{"a_manual_ban_is_not", manual, false, false},
		{"a_manual_ban_is_with_idle_unblock_manual", manual, true, true},
		{"a_range_is_not", rng, false, false},
		{"a_range_is_with_idle_unblock_manual", rng, true, true},
		{"a_line_written_by_hand_is_not", hand, false, false},
		{"a_fleet_record_never_is", fleet, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := hits.Unblockable(c.e, c.manualToo); got != c.want {
				t.Errorf("Unblockable(%v, %v) = %v, want %v", c.e, c.manualToo, got, c.want)
			}
		})
	}
}

func TestARecordThatIsASymbolicLinkIsNeitherReadNorWrittenThrough(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hits")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := hits.Load(path); err == nil {
		t.Error("Load followed a symbolic link")
	}
	if err := hits.Save(path, &hits.Book{Sampled: t0}); err == nil {
		t.Error("Save wrote through a symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the link's target now holds %q", b)
	}
}
