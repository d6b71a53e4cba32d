package watcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)

// step is one ban fed to a Tracker in a table test: at is after t0.
type step struct {
	at   time.Duration
	jail string
	addr string
}

func (s step) ban() Ban {
	return Ban{Time: t0.Add(s.at), Jail: s.jail, Addr: netip.MustParseAddr(s.addr)}
}

// observeAll feeds steps to tr and returns the indexes of the steps that
// made an offender, and the offenders.
func observeAll(t testing.TB, tr *Tracker, steps []step) ([]int, []Offender) {
	t.Helper()
	var idx []int
	var offenders []Offender
	for i, s := range steps {
		if o, ok := tr.Observe(s.ban()); ok {
			idx = append(idx, i)
			offenders = append(offenders, o)
		}
	}
	return idx, offenders
}

func TestTrackerDecidesOffenders(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	tests := []struct {
		name      string
		threshold int
		window    time.Duration
		steps     []step
		want      []int // indexes of the steps that make an offender
	}{
		{"three_bans_exactly_window_apart_count", 3, time.Hour,
			[]step{{0, "sshd", a}, {30 * time.Minute, "sshd", a}, {time.Hour, "sshd", a}}, []int{2}},
		{"three_bans_one_second_more_than_window_apart_do_not_count", 3, time.Hour,
			[]step{{0, "sshd", a}, {30 * time.Minute, "sshd", a}, {time.Hour + time.Second, "sshd", a}}, nil},
		{"three_bans_one_millisecond_more_than_window_apart_do_not_count", 3, time.Hour,
			[]step{{0, "sshd", a}, {30 * time.Minute, "sshd", a}, {time.Hour + time.Millisecond, "sshd", a}}, nil},
		{"threshold_one_makes_every_ban_an_offender", 1, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", b}, {2 * time.Second, "sshd", a}}, []int{0, 1, 2}},
		{"threshold_five_needs_five_bans_within_the_window", 5, time.Hour,
			[]step{{0, "sshd", a}, {10 * time.Minute, "sshd", a}, {20 * time.Minute, "sshd", a}, {30 * time.Minute, "sshd", a},
				{65 * time.Minute, "sshd", a}, {66 * time.Minute, "sshd", a}}, []int{5}},
		{"a_ban_that_left_the_window_no_longer_counts", 3, time.Hour,
			[]step{{0, "sshd", a}, {50 * time.Minute, "sshd", a}, {70 * time.Minute, "sshd", a}, {80 * time.Minute, "sshd", a}}, []int{3}},
		{"bans_of_other_addresses_do_not_add_up", 3, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", b}, {2 * time.Second, "sshd", a}, {3 * time.Second, "sshd", b}}, nil},
		{"bans_from_several_jails_add_up", 3, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "postfix-sasl", a}, {2 * time.Second, "nginx-http-auth", a}}, []int{2}},
		{"an_offender_must_collect_threshold_new_bans_to_offend_again", 3, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a},
				{3 * time.Second, "sshd", a}, {4 * time.Second, "sshd", a}, {5 * time.Second, "sshd", a}}, []int{2, 5}},
		{"a_ban_one_second_out_of_order_is_put_in_order", 3, time.Hour,
			[]step{{0, "sshd", a}, {30 * time.Minute, "sshd", a}, {30*time.Minute - time.Second, "sshd", a}}, []int{2}},
		{"an_out_of_order_ban_between_remembered_ones_keeps_the_newest", 3, time.Hour,
			// 5m, 10m, 70m span 65m; then 65m: the newest three are 10m, 65m, 70m.
			[]step{{10 * time.Minute, "sshd", a}, {70 * time.Minute, "sshd", a}, {5 * time.Minute, "sshd", a},
				{65 * time.Minute, "sshd", a}}, []int{3}},
		{"an_out_of_order_ban_older_than_all_counts_when_within_the_window", 3, 40 * time.Minute,
			[]step{{20 * time.Minute, "sshd", a}, {40 * time.Minute, "sshd", a}, {0, "sshd", a}}, []int{2}},
		{"an_out_of_order_ban_older_than_all_does_not_stretch_the_window", 3, 39 * time.Minute,
			[]step{{20 * time.Minute, "sshd", a}, {40 * time.Minute, "sshd", a}, {0, "sshd", a}}, nil},
		{"ipv6_addresses_are_counted_like_ipv4", 3, time.Hour,
			[]step{{0, "sshd", "2001:db8::bad:1"}, {time.Second, "sshd", "2001:db8::bad:1"}, {2 * time.Second, "sshd", "2001:db8::bad:2"},
				{3 * time.Second, "sshd", "2001:db8::bad:1"}}, []int{3}},
		{"an_ipv4_mapped_address_counts_as_the_ipv4_address", 3, time.Hour,
			[]step{{0, "sshd", "::ffff:192.0.2.1"}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", "::ffff:192.0.2.1"}}, []int{2}},
		{"a_zero_window_needs_bans_at_the_same_instant", 2, 0,
			[]step{{0, "sshd", a}, {time.Millisecond, "sshd", a}, {time.Millisecond, "sshd", a}}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.threshold, tt.window)
			got, _ := observeAll(t, tr, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("offender at steps %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerDescribesTheOffender(t *testing.T) {
	tr := NewTracker(3, time.Hour)
	steps := []step{
		{11 * time.Second, "sshd", "203.0.113.7"},
		{12 * time.Second, "postfix-sasl", "203.0.113.7"},
		{10 * time.Second, "sshd", "203.0.113.7"}, // the first ban, read last
	}
	idx, got := observeAll(t, tr, steps)
	want := []Offender{{
		Addr:  netip.MustParseAddr("203.0.113.7"),
		Bans:  3,
		Jails: []string{"postfix-sasl", "sshd"},
		First: t0.Add(10 * time.Second),
		Last:  t0.Add(12 * time.Second),
	}}
	if !slices.Equal(idx, []int{2}) || !reflect.DeepEqual(got, want) {
		t.Fatalf("offenders at %v: %+v, want at [2]: %+v", idx, got, want)
	}
	if tr.Len() != 0 {
		t.Errorf("Len after the offender = %d, want 0: an offender is dropped", tr.Len())
	}
}

func TestTrackerCountsBansAcrossTheDSTChange(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("loading Europe/Berlin: %v", err)
	}
	in := func(utc string) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339, utc)
		if err != nil {
			t.Fatal(err)
		}
		return at.In(berlin)
	}
	tests := []struct {
		name          string
		first, second time.Time
		window        time.Duration
		wall          time.Duration // what the clock on the wall says, checked to prove the setup
		want          bool
	}{
		{"across_the_fall_back_wall_1h05m_is_real_2h05m_and_misses_a_2h_window",
			in("2026-10-24T23:30:00Z"), in("2026-10-25T01:35:00Z"), 2 * time.Hour, 65 * time.Minute, false},
		{"across_the_fall_back_wall_1h05m_is_real_2h05m_and_fits_a_2h05m_window",
			in("2026-10-24T23:30:00Z"), in("2026-10-25T01:35:00Z"), 125 * time.Minute, 65 * time.Minute, true},
		{"in_the_repeated_hour_wall_minus_10m_is_real_50m_and_fits_a_1h_window",
			in("2026-10-25T00:30:00Z"), in("2026-10-25T01:20:00Z"), time.Hour, -10 * time.Minute, true},
		{"across_the_spring_forward_wall_2h05m_is_real_1h05m_and_fits_a_2h_window",
			in("2026-03-29T00:30:00Z"), in("2026-03-29T01:35:00Z"), 2 * time.Hour, 125 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if wall := wallClock(tt.second).Sub(wallClock(tt.first)); wall != tt.wall {
				t.Fatalf("setup: wall clocks %s and %s are %v apart, want %v", tt.first, tt.second, wall, tt.wall)
			}
			tr := NewTracker(2, tt.window)
			addr := netip.MustParseAddr("198.51.100.23")
			tr.Observe(Ban{Time: tt.first, Jail: "sshd", Addr: addr})
			if _, got := tr.Observe(Ban{Time: tt.second, Jail: "sshd", Addr: addr}); got != tt.want {
				t.Errorf("offender = %v, want %v: %v of real time under a %v window", got, tt.want, tt.second.Sub(tt.first), tt.window)
			}
		})
	}
}

// wallClock is the time a clock on the wall shows at t, as if it were UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func TestTrackerForgives(t *testing.T) {
	const a = "192.0.2.5"
	tests := []struct {
		name    string
		before  []step        // observed before Forgive
		prefix  string        // forgiven
		at      time.Duration // forgiven up to t0+at
		after   []step        // observed after Forgive
		want    []int         // indexes in after that make an offender
		wantLen int           // tracked addresses at the end
	}{
		{"forgiven_bans_never_count_again_even_when_read_again",
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}}, a + "/32", time.Second,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}},
			nil, 1},
		{"bans_after_the_forgiveness_count_afresh",
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}}, a + "/32", time.Second,
			[]step{{0, "sshd", a}, {2 * time.Second, "sshd", a}, {time.Second, "sshd", a}, {3 * time.Second, "sshd", a},
				{4 * time.Second, "sshd", a}},
			[]int{4}, 0},
		{"forgiving_a_24_covers_its_addresses_and_no_other",
			[]step{{0, "sshd", a}, {time.Second, "sshd", "192.0.2.77"}, {time.Second, "sshd", "192.0.3.1"}}, "192.0.2.0/24", time.Minute,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a},
				{0, "sshd", "192.0.3.1"}, {2 * time.Second, "sshd", "192.0.3.1"}},
			[]int{4}, 0},
		{"forgiving_an_ipv4_mapped_range_covers_the_ipv4_addresses",
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}}, "::ffff:192.0.2.0/120", time.Minute,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}},
			nil, 0},
		{"forgiving_an_ipv6_64_covers_its_addresses",
			[]step{{0, "sshd", "2001:db8:1:2::3"}, {time.Second, "sshd", "2001:db8:1:2::4"}, {time.Second, "sshd", "2001:db8:1:3::3"}},
			"2001:db8:1:2::/64", time.Minute,
			[]step{{0, "sshd", "2001:db8:1:2::3"}, {time.Second, "sshd", "2001:db8:1:2::3"}, {2 * time.Second, "sshd", "2001:db8:1:2::3"}},
			nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(3, time.Hour)
			observeAll(t, tr, tt.before)
			tr.Forgive(netip.MustParsePrefix(tt.prefix), t0.Add(tt.at))
			got, _ := observeAll(t, tr, tt.after)
			if !slices.Equal(got, tt.want) {
				t.Errorf("offender at steps %v after Forgive, want %v", got, tt.want)
			}
			if tr.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", tr.Len(), tt.wantLen)
			}
		})
	}
}

func TestTrackerExpires(t *testing.T) {
	const a, b = "192.0.2.1", "2001:db8::2"
	tests := []struct {
		name        string
		before      []step
		forgive     string // forgiven up to forgiveAt, when not empty
		forgiveAt   time.Duration
		now         time.Duration
		wantDropped int
		wantLen     int
		after       []step // observed after Expire
		want        []int  // indexes in after that make an offender
	}{
		{"addresses_whose_bans_all_left_the_window_are_dropped",
			[]step{{0, "sshd", a}, {10 * time.Minute, "sshd", a}, {50 * time.Minute, "sshd", b}}, "", 0,
			90 * time.Minute, 1, 1, nil, nil},
		{"an_address_with_one_ban_left_in_the_window_is_kept_whole",
			[]step{{0, "sshd", a}, {40 * time.Minute, "sshd", a}}, "", 0,
			90 * time.Minute, 0, 1,
			// The ban at 0m is older than the horizon but still within 1h of the others.
			[]step{{50 * time.Minute, "sshd", a}}, []int{0}},
		{"bans_older_than_the_window_read_after_expire_are_ignored",
			nil, "", 0,
			3 * time.Hour, 0, 0,
			[]step{{time.Hour, "sshd", a}, {time.Hour, "sshd", a}, {time.Hour, "sshd", a}}, nil},
		{"a_forgiven_address_old_lines_still_do_not_count_once_the_record_expired",
			[]step{{0, "sshd", a}, {time.Minute, "sshd", a}}, a + "/32", 2 * time.Minute,
			3 * time.Hour, 0, 0,
			[]step{{0, "sshd", a}, {time.Minute, "sshd", a}, {2 * time.Minute, "sshd", a}}, nil},
		{"bans_inside_the_window_still_count_after_expire",
			[]step{{2*time.Hour + 30*time.Minute, "sshd", a}}, "", 0,
			3 * time.Hour, 0, 1,
			[]step{{2*time.Hour + 40*time.Minute, "sshd", a}, {2*time.Hour + 50*time.Minute, "sshd", a}}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(3, time.Hour)
			observeAll(t, tr, tt.before)
			if tt.forgive != "" {
				tr.Forgive(netip.MustParsePrefix(tt.forgive), t0.Add(tt.forgiveAt))
			}
			if got := tr.Expire(t0.Add(tt.now)); got != tt.wantDropped {
				t.Errorf("Expire dropped %d, want %d", got, tt.wantDropped)
			}
			if tr.Len() != tt.wantLen {
				t.Errorf("Len after Expire = %d, want %d", tr.Len(), tt.wantLen)
			}
			if got, _ := observeAll(t, tr, tt.after); !slices.Equal(got, tt.want) {
				t.Errorf("offender at steps %v after Expire, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerForgetsForgivenessOnlyWhenItCannotMatter(t *testing.T) {
	tr := NewTracker(3, time.Hour)
	tr.Forgive(netip.MustParsePrefix("192.0.2.0/24"), t0.Add(time.Hour))
	tr.Forgive(netip.MustParsePrefix("192.0.2.9/32"), t0.Add(time.Hour))
	tr.Expire(t0.Add(90 * time.Minute)) // horizon 30m: the records still matter
	if n := len(tr.forgiven.addrs) + len(tr.forgiven.ranges); n != 2 {
		t.Fatalf("%d forgiveness records after an Expire within their reach, want 2", n)
	}
	tr.Expire(t0.Add(2*time.Hour + time.Second)) // horizon past both records
	if n := len(tr.forgiven.addrs) + len(tr.forgiven.ranges); n != 0 {
		t.Errorf("%d forgiveness records once bans up to them are ignored, want 0", n)
	}
}

func TestTrackerBoundsMemoryOfAFloodWithoutExpire(t *testing.T) {
	// Months of distinct addresses, one ban a second: the window holds an
	// hour of them; sweeps must keep Len near that.
	const perWindow = 3600
	tr := NewTracker(3, time.Hour)
	peak := 0
	for i := range 200_000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tr.Observe(Ban{Time: t0.Add(time.Duration(i) * time.Second), Jail: "sshd", Addr: addr})
		peak = max(peak, tr.Len())
	}
	if limit := 2*perWindow + sweepEvery; peak > limit {
		t.Errorf("tracked up to %d addresses with %d in the window, want at most %d", peak, perWindow, limit)
	}
	if tr.v4.used > uint32(2*peak+chunkLen) {
		t.Errorf("%d records allocated for at most %d addresses: freed records are not reused", tr.v4.used, peak)
	}
}

func TestTrackerRemembersOnlyWhatTheDecisionNeeds(t *testing.T) {
	for _, threshold := range []int{1, 2, 3, 5} {
		tr := NewTracker(threshold, time.Hour)
		// Bans two hours apart never offend but keep the address tracked.
		for i := range 50 {
			tr.Observe(Ban{Time: t0.Add(time.Duration(i) * 2 * time.Hour), Jail: "sshd", Addr: netip.MustParseAddr("192.0.2.1")})
			tr.Observe(Ban{Time: t0.Add(time.Duration(i) * 2 * time.Hour), Jail: "sshd", Addr: netip.MustParseAddr("2001:db8::1")})
		}
		wantTimes := max(threshold-1, 1)
		for _, stride := range []int{tr.v4.stride, tr.v6.stride} {
			if stride != wordTimes+wantTimes {
				t.Errorf("threshold %d: a record holds %d words, want %d (%d ban times)", threshold, stride, wordTimes+wantTimes, wantTimes)
			}
		}
		wantLen := 2
		if threshold == 1 {
			wantLen = 0
		}
		if tr.Len() != wantLen {
			t.Errorf("threshold %d: Len = %d, want %d", threshold, tr.Len(), wantLen)
		}
	}
}

func TestTrackerListsCandidates(t *testing.T) {
	tr := NewTracker(4, time.Hour)
	observeAll(t, tr, []step{
		{time.Second, "sshd", "192.0.2.1"},
		{2 * time.Second, "postfix-sasl", "192.0.2.1"},
		{5 * time.Second, "sshd", "2001:db8::5"},
		{3 * time.Second, "sshd", "192.0.2.3"},
		{4 * time.Second, "sshd", "192.0.2.3"},
	})
	got := tr.Candidates()
	want := []Offender{
		{Addr: netip.MustParseAddr("192.0.2.3"), Bans: 2, Jails: []string{"sshd"}, First: t0.Add(3 * time.Second), Last: t0.Add(4 * time.Second)},
		{Addr: netip.MustParseAddr("192.0.2.1"), Bans: 2, Jails: []string{"postfix-sasl", "sshd"}, First: t0.Add(time.Second), Last: t0.Add(2 * time.Second)},
		{Addr: netip.MustParseAddr("2001:db8::5"), Bans: 1, Jails: []string{"sshd"}, First: t0.Add(5 * time.Second), Last: t0.Add(5 * time.Second)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Candidates = %+v\nwant %+v", got, want)
	}
}

func TestTrackerKeepsMoreThan32Jails(t *testing.T) {
	tr := NewTracker(40, time.Hour)
	var want []string
	for i := range 39 {
		jail := "jail-" + string(rune('A'+i))
		want = append(want, jail)
		tr.Observe(Ban{Time: t0.Add(time.Duration(i) * time.Second), Jail: jail, Addr: netip.MustParseAddr("192.0.2.1")})
	}
	o, ok := tr.Observe(Ban{Time: t0.Add(time.Minute), Jail: "jail-A", Addr: netip.MustParseAddr("192.0.2.1")})
	slices.Sort(want)
	if !ok || o.Bans != 40 || !slices.Equal(o.Jails, want) {
		t.Errorf("offender %v with %d bans and jails %v, want one with 40 bans and jails %v", ok, o.Bans, o.Jails, want)
	}
}

func TestTrackerSetPolicyKeepsWhatItCan(t *testing.T) {
	const a = "192.0.2.1"
	tests := []struct {
		name      string
		threshold int
		window    time.Duration
		before    []step
		newThresh int
		newWindow time.Duration
		after     []step
		want      []int
		wantBans  int // of the offender
	}{
		{"a_lower_threshold_keeps_the_count", 5, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}},
			3, time.Hour, []step{{3 * time.Second, "sshd", a}}, []int{0}, 4},
		{"a_higher_threshold_keeps_the_remembered_bans", 3, time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}},
			4, time.Hour, []step{{2 * time.Second, "sshd", a}, {3 * time.Second, "sshd", a}}, []int{1}, 4},
		{"a_longer_window_reaches_bans_already_seen", 3, time.Minute,
			[]step{{0, "sshd", a}, {2 * time.Minute, "sshd", a}},
			3, time.Hour, []step{{3 * time.Minute, "sshd", a}}, []int{0}, 3},
		{"a_shorter_window_no_longer_reaches_them", 3, time.Hour,
			[]step{{0, "sshd", a}, {2 * time.Minute, "sshd", a}},
			3, time.Minute, []step{{3 * time.Minute, "sshd", a}}, nil, 0},
		{"threshold_one_makes_the_next_ban_an_offender_with_its_history", 3, time.Hour,
			[]step{{0, "postfix-sasl", a}},
			1, time.Hour, []step{{time.Minute, "sshd", a}}, []int{0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.threshold, tt.window)
			observeAll(t, tr, tt.before)
			tr.SetPolicy(tt.newThresh, tt.newWindow)
			got, offenders := observeAll(t, tr, tt.after)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("offender at steps %v after SetPolicy, want %v", got, tt.want)
			}
			if len(offenders) > 0 && offenders[0].Bans != tt.wantBans {
				t.Errorf("offender with %d bans, want %d", offenders[0].Bans, tt.wantBans)
			}
		})
	}
}

// truthEvent is one countable ban of a corpus ground truth file.
type truthEvent struct {
	TS   string `json:"ts"`
	Jail string `json:"jail"`
	IP   string `json:"ip"`
}

func corpusBans(t *testing.T, name string) []Ban {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "corpus", name))
	if err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	var truth struct {
		Events []truthEvent `json:"countable_events"`
	}
	if err := json.Unmarshal(data, &truth); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	var bans []Ban
	for _, e := range truth.Events {
		at, err := time.Parse("2006-01-02 15:04:05,000", e.TS) // the corpus was written with local = UTC
		if err != nil {
			if at, err = time.Parse(time.RFC3339Nano, e.TS); err != nil {
				t.Fatalf("%s: timestamp %q: %v", name, e.TS, err)
			}
		}
		bans = append(bans, Ban{Time: at, Jail: e.Jail, Addr: netip.MustParseAddr(e.IP)})
	}
	return bans
}

func TestTrackerFindsTheCorpusOffenders(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		window time.Duration
		want   []string // offenders×bans in the order they become one
	}{
		{"a_week_window_blocks_the_three_repeat_offenders", "fail2ban-1.0.2.truth.json", 7 * 24 * time.Hour,
			[]string{"192.0.2.10×3", "2001:db8::bad:1×3", "198.51.100.23×3"}},
		{"198_51_100_23_needs_its_71_58_seconds", "fail2ban-1.0.2.truth.json", 71580 * time.Millisecond,
			[]string{"192.0.2.10×3", "2001:db8::bad:1×3", "198.51.100.23×3"}},
		{"a_millisecond_less_spares_198_51_100_23", "fail2ban-1.0.2.truth.json", 71579 * time.Millisecond,
			[]string{"192.0.2.10×3", "2001:db8::bad:1×3"}},
		{"2001_db8__bad_1_needs_its_20_453_seconds", "fail2ban-1.0.2.truth.json", 20452 * time.Millisecond,
			[]string{"192.0.2.10×3"}},
		{"the_syslog_run_blocks_198_51_100_201_to_the_microsecond", "fail2ban-1.0.2-syslog-iso.truth.json", 4642086 * time.Microsecond,
			[]string{"198.51.100.201×3"}},
		{"a_microsecond_less_blocks_it_at_its_fourth_ban", "fail2ban-1.0.2-syslog-iso.truth.json", 4642085 * time.Microsecond,
			[]string{"198.51.100.201×4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(3, tt.window)
			var got []string
			for _, b := range corpusBans(t, tt.file) {
				if o, ok := tr.Observe(b); ok {
					got = append(got, fmt.Sprintf("%s×%d", o.Addr, o.Bans))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("offenders %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerSweepsSpareAddressesForSlightlyLateBans(t *testing.T) {
	tests := []struct {
		name string
		late time.Duration // after the first ban of 192.0.2.1, read after the flood
		want bool
	}{
		{"a_ban_three_minutes_out_of_order_still_finds_its_address", 59 * time.Minute, true},
		{"a_ban_that_does_not_fit_the_window_does_not_offend", time.Hour + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(2, time.Hour)
			addr := netip.MustParseAddr("192.0.2.1")
			tr.Observe(Ban{Time: t0, Jail: "sshd", Addr: addr})
			// A flood at t0+1h02m makes a sweep run with 192.0.2.1's only ban
			// more than the window older than the newest ban.
			for i := range sweepEvery - 1 {
				tr.Observe(Ban{Time: t0.Add(time.Hour + 2*time.Minute), Jail: "sshd", Addr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})})
			}
			if tr.added != 0 {
				t.Fatalf("setup: no sweep ran (%d added since)", tr.added)
			}
			if _, got := tr.Observe(Ban{Time: t0.Add(tt.late), Jail: "sshd", Addr: addr}); got != tt.want {
				t.Errorf("offender = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerIsSafeForConcurrentUse(t *testing.T) {
	const workers, perWorker = 4, 2000
	tr := NewTracker(1000, time.Hour)
	done := make(chan struct{})
	go func() { // status and metrics read while the followers observe
		defer close(done)
		for range 50 {
			tr.Candidates()
			tr.Len()
			var buf bytes.Buffer
			if _, err := tr.WriteTo(&buf); err != nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				addr := netip.AddrFrom4([4]byte{10, byte(w), 0, byte(i % 100)})
				tr.Observe(Ban{Time: t0.Add(time.Duration(i) * time.Millisecond), Jail: "sshd", Addr: addr})
			}
		})
	}
	wg.Wait()
	<-done
	total := 0
	for _, c := range tr.Candidates() {
		total += c.Bans
	}
	if tr.Len() != workers*100 || total != workers*perWorker {
		t.Errorf("Len = %d with %d bans, want %d with %d", tr.Len(), total, workers*100, workers*perWorker)
	}
}
