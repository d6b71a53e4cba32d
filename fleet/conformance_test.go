package fleet_test

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
)

var t0 = time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)

var hourRule = fleet.Rule{Threshold: 3, Window: time.Hour}

func ev(addr string, at time.Duration, jail string, seq uint64) fleet.Event {
	return fleet.Event{Addr: netip.MustParseAddr(addr), Time: t0.Add(at), Jail: jail, Seq: seq}
}

func push(t *testing.T, f fleet.Fleet, e fleet.Event) fleet.Result {
	t.Helper()
	r, err := f.PushEvent(ctxFor(t), e, 0)
	if err != nil {
		t.Fatalf("PushEvent(%v): %v", e, err)
	}
	return r
}

func wantOutcomes(t *testing.T, got []fleet.Result, want ...fleet.Outcome) {
	t.Helper()
	var g []fleet.Outcome
	for _, r := range got {
		g = append(g, r.Outcome)
	}
	if !slices.Equal(g, want) {
		t.Fatalf("outcomes %v, want %v", g, want)
	}
}

func TestOneBanOnEachOfThreeHostsMakesAFleetOffender(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a, b, c := h.host("a"), h.host("b"), h.host("c")
		mustInit(t, a, fleet.Rule{Threshold: 3, Window: time.Hour, BanTime: 24 * time.Hour})
		got := []fleet.Result{
			push(t, a, ev("203.0.113.7", 0, "sshd", 1)),
			push(t, b, ev("203.0.113.7", time.Minute, "postfix", 1)),
			push(t, b, ev("198.51.100.9", time.Minute, "sshd", 2)),
			push(t, c, ev("198.51.100.9", 2*time.Minute, "sshd", 1)),
			push(t, c, ev("203.0.113.7", 2*time.Minute, "dovecot", 2)),
		}
		wantOutcomes(t, got, fleet.Counted, fleet.Counted, fleet.Counted, fleet.Counted, fleet.Offender)
		r := got[4].Record
		want := fleet.Record{
			Prefix: netip.MustParsePrefix("203.0.113.7/32"), State: fleet.Block,
			Version: t0.Add(2 * time.Minute), Host: "c", Expires: t0.Add(2*time.Minute + 24*time.Hour),
			Jails: []string{"dovecot", "postfix", "sshd"}, Bans: 3, Origin: "fleet",
		}
		if !equalRecord(r, want) {
			t.Fatalf("block record\n got %+v\nwant %+v", r, want)
		}
		snap, err := a.Snapshot(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Records) != 1 || !equalRecord(snap.Records[0], want) {
			t.Fatalf("snapshot holds %+v, want only the block of 203.0.113.7 (198.51.100.9 has two bans)", snap.Records)
		}
	})
}

func equalRecord(a, b fleet.Record) bool {
	return a.Prefix == b.Prefix && a.State == b.State && a.Version.Equal(b.Version) && a.Host == b.Host &&
		a.Expires.Equal(b.Expires) && slices.Equal(a.Jails, b.Jails) && a.Bans == b.Bans && a.Origin == b.Origin
}

func TestTheWindowRuleIsNewestMinusOldestAtMostWindow(t *testing.T) {
	cases := []struct {
		name string
		at   []time.Duration
		want []fleet.Outcome
	}{
		{"exactly_window_apart_offends", []time.Duration{0, 30 * time.Minute, time.Hour}, []fleet.Outcome{fleet.Counted, fleet.Counted, fleet.Offender}},
		{"one_ms_more_than_window_does_not", []time.Duration{0, 30 * time.Minute, time.Hour + time.Millisecond}, []fleet.Outcome{fleet.Counted, fleet.Counted, fleet.Counted}},
		{"out_of_order_arrival_decides_the_same", []time.Duration{40 * time.Minute, 0, 20 * time.Minute}, []fleet.Outcome{fleet.Counted, fleet.Counted, fleet.Offender}},
		{"a_ban_older_than_the_window_before_the_newest_is_old", []time.Duration{3 * time.Hour, time.Hour}, []fleet.Outcome{fleet.Counted, fleet.Old}},
		{"a_late_ban_completes_a_group_of_earlier_ones", []time.Duration{0, 50 * time.Minute, 20 * time.Minute}, []fleet.Outcome{fleet.Counted, fleet.Counted, fleet.Offender}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, h harness) {
				a := h.host("a")
				mustInit(t, a, hourRule)
				var got []fleet.Result
				for i, at := range tc.at {
					got = append(got, push(t, a, ev("192.0.2.1", at, "sshd", uint64(i+1))))
				}
				wantOutcomes(t, got, tc.want...)
			})
		})
	}
}

func TestAReplayedEventIsCountedOnce(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a := h.host("a")
		mustInit(t, a, hourRule)
		got := []fleet.Result{
			push(t, a, ev("2001:db8::1", 0, "sshd", 1)),
			push(t, a, ev("2001:db8::1", time.Minute, "sshd", 2)),
			push(t, a, ev("2001:db8::1", time.Minute, "sshd", 2)),
			push(t, h.host("b"), ev("2001:db8::1", time.Minute, "sshd", 2)), // another host's seq 2 is another ban
		}
		wantOutcomes(t, got, fleet.Counted, fleet.Counted, fleet.Dup, fleet.Offender)
	})
}

func TestABlockConsumesItsBansAndLaterBansCountAfresh(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a := h.host("a")
		mustInit(t, a, hourRule)
		var got []fleet.Result
		for i := range 3 {
			got = append(got, push(t, a, ev("192.0.2.2", time.Duration(i)*time.Minute, "sshd", uint64(i+1))))
		}
		// a rewound outbox pushes them again: consumed, nothing double counted
		for i := range 3 {
			got = append(got, push(t, a, ev("192.0.2.2", time.Duration(i)*time.Minute, "sshd", uint64(i+1))))
		}
		for i := range 3 {
			got = append(got, push(t, a, ev("192.0.2.2", time.Duration(10+i)*time.Minute, "sshd", uint64(10+i))))
		}
		wantOutcomes(t, got, fleet.Counted, fleet.Counted, fleet.Offender, fleet.Old, fleet.Old, fleet.Old, fleet.Counted, fleet.Counted, fleet.Offender)
		if v := got[8].Record.Version; !v.Equal(t0.Add(12 * time.Minute)) {
			t.Fatalf("second block has version %v, want the deciding ban's time %v", v, t0.Add(12*time.Minute))
		}
	})
}

func TestBansLoggedBeforeAnUnbanNeverCountAgain(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a, b := h.host("a"), h.host("b")
		mustInit(t, a, hourRule)
		got := []fleet.Result{
			push(t, a, ev("192.0.2.3", 0, "sshd", 1)),
			push(t, a, ev("192.0.2.3", time.Minute, "sshd", 2)),
		}
		unban := fleet.Record{Prefix: netip.MustParsePrefix("192.0.2.3/32"), State: fleet.Unban, Version: t0.Add(5 * time.Minute), Host: "b", Origin: "manual"}
		if ok, err := b.PutRecord(ctxFor(t), unban, 1, 0); err != nil || !ok {
			t.Fatalf("PutRecord(unban) = %v, %v", ok, err)
		}
		// an offline host's backlog of older bans arrives late
		got = append(got,
			push(t, h.host("c"), ev("192.0.2.3", 4*time.Minute, "sshd", 1)),
			push(t, a, ev("192.0.2.3", 6*time.Minute, "sshd", 3)),
			push(t, a, ev("192.0.2.3", 7*time.Minute, "sshd", 4)),
			push(t, a, ev("192.0.2.3", 8*time.Minute, "sshd", 5)),
		)
		wantOutcomes(t, got, fleet.Counted, fleet.Counted, fleet.Forgiven, fleet.Counted, fleet.Counted, fleet.Offender)
	})
}

func TestLastWriterWins(t *testing.T) {
	p := netip.MustParsePrefix("198.51.100.0/24")
	rec := func(s fleet.State, at time.Duration, host string) fleet.Record {
		return fleet.Record{Prefix: p, State: s, Version: t0.Add(at), Host: host, Origin: "manual"}
	}
	cases := []struct {
		name         string
		first, later fleet.Record
		applied      bool
	}{
		{"a_newer_block_beats_an_unban", rec(fleet.Unban, 0, "a"), rec(fleet.Block, time.Second, "a"), true},
		{"an_older_block_loses_to_an_unban", rec(fleet.Unban, time.Second, "a"), rec(fleet.Block, 0, "b"), false},
		{"an_unban_beats_a_block_of_the_same_version", rec(fleet.Block, 0, "z"), rec(fleet.Unban, 0, "a"), true},
		{"a_block_loses_to_an_unban_of_the_same_version", rec(fleet.Unban, 0, "a"), rec(fleet.Block, 0, "z"), false},
		{"the_greater_host_breaks_a_tie", rec(fleet.Block, 0, "a"), rec(fleet.Block, 0, "b"), true},
		{"a_replay_changes_nothing", rec(fleet.Block, 0, "a"), rec(fleet.Block, 0, "a"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.later.Wins(tc.first); got != tc.applied {
				t.Fatalf("Record.Wins = %v, want %v", got, tc.applied)
			}
			each(t, func(t *testing.T, h harness) {
				f := h.host("x")
				if ok, err := f.PutRecord(ctxFor(t), tc.first, 0, 0); err != nil || !ok {
					t.Fatalf("first PutRecord = %v, %v", ok, err)
				}
				ok, err := f.PutRecord(ctxFor(t), tc.later, 0, 0)
				if err != nil || ok != tc.applied {
					t.Fatalf("later PutRecord = %v, %v; want %v", ok, err, tc.applied)
				}
				snap, err := f.Snapshot(ctxFor(t))
				if err != nil {
					t.Fatal(err)
				}
				want := tc.first
				if tc.applied {
					want = tc.later
				}
				if len(snap.Records) != 1 || !equalRecord(snap.Records[0], want) {
					t.Fatalf("stored %+v, want %+v", snap.Records, want)
				}
			})
		})
	}
}

func put(t *testing.T, f fleet.Fleet, addr string, s fleet.State, at time.Duration) {
	t.Helper()
	p := fleet.Canonical(netip.MustParsePrefix(addr))
	if _, err := f.PutRecord(ctxFor(t), fleet.Record{Prefix: p, State: s, Version: t0.Add(at), Host: "a", Origin: "manual"}, 0, 0); err != nil {
		t.Fatal(err)
	}
}

func fields(cs []fleet.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fleet.Field(c.Record.Prefix)+" "+string(c.Record.State))
	}
	return out
}

func TestAReaderTailsFromItsCursorOnlyWhileThatEntryExists(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		f := h.host("a")
		ctx := ctxFor(t)
		if _, err := f.Changes(ctx, "", 0, 10); !errors.Is(err, fleet.ErrCursorGone) {
			t.Fatalf("Changes without a cursor = %v, want ErrCursorGone", err)
		}
		snap, err := f.Snapshot(ctx)
		if err != nil || len(snap.Records) != 0 {
			t.Fatalf("Snapshot of nothing = %+v, %v", snap, err)
		}
		put(t, f, "192.0.2.10/32", fleet.Block, 0)
		put(t, f, "192.0.2.11/32", fleet.Block, 0)
		got, err := f.Changes(ctx, snap.Cursor, 0, 10)
		if err != nil || !slices.Equal(fields(got), []string{"192.0.2.10 block", "192.0.2.11 block"}) {
			t.Fatalf("Changes after an empty snapshot = %v, %v", fields(got), err)
		}
		cursor := got[0].ID
		got, err = f.Changes(ctx, cursor, 0, 10)
		if err != nil || !slices.Equal(fields(got), []string{"192.0.2.11 block"}) {
			t.Fatalf("Changes after the first = %v, %v", fields(got), err)
		}
		put(t, f, "192.0.2.10/32", fleet.Unban, time.Second)
		h.trimTo(1)
		if _, err := f.Changes(ctx, cursor, 0, 10); !errors.Is(err, fleet.ErrCursorGone) {
			t.Fatalf("Changes after a trimmed cursor = %v, want ErrCursorGone", err)
		}
		snap, err = f.Snapshot(ctx)
		if err != nil || len(snap.Records) != 2 {
			t.Fatalf("Snapshot = %+v, %v; want both records", snap, err)
		}
		put(t, f, "192.0.2.12/32", fleet.Block, 0)
		got, err = f.Changes(ctx, snap.Cursor, 0, 10)
		if err != nil || !slices.Equal(fields(got), []string{"192.0.2.12 block"}) {
			t.Fatalf("Changes after the snapshot's cursor = %v, %v", fields(got), err)
		}
		h.lose()
		if _, err := f.Changes(ctx, got[0].ID, 0, 10); !errors.Is(err, fleet.ErrCursorGone) {
			t.Fatalf("Changes after the meeting point lost everything = %v, want ErrCursorGone", err)
		}
	})
}

func TestChangesWaitsForTheNextChange(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		f := h.host("a")
		snap, err := f.Snapshot(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(200 * time.Millisecond)
			put(t, h.host("b"), "192.0.2.20/32", fleet.Block, 0)
		}()
		var got []fleet.Change
		deadline := time.Now().Add(30 * time.Second)
		for len(got) == 0 && time.Now().Before(deadline) {
			if got, err = f.Changes(ctxFor(t), snap.Cursor, 30*time.Second, 10); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if !slices.Equal(fields(got), []string{"192.0.2.20 block"}) {
			t.Fatalf("waited Changes = %v", fields(got))
		}
	})
}

func TestTheProbeSeesWhenTheMeetingPointLostAWrite(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a := h.host("a")
		mustInit(t, a, hourRule)
		push(t, a, ev("192.0.2.30", 0, "sshd", 7))
		put(t, a, "192.0.2.31/32", fleet.Block, 0) // seq 0: no acknowledgement
		if n, err := a.Acked(ctxFor(t), "a"); err != nil || n != 7 {
			t.Fatalf("Acked = %d, %v; want 7", n, err)
		}
		h.lose()
		if n, err := a.Acked(ctxFor(t), "a"); err != nil || n != 0 {
			t.Fatalf("Acked after the loss = %d, %v; want 0", n, err)
		}
		// a client that reconnected silently cannot write past the loss
		mustInit(t, a, hourRule)
		if _, err := a.PushEvent(ctxFor(t), ev("192.0.2.30", time.Second, "sshd", 8), 7); !errors.Is(err, fleet.ErrLost) {
			t.Fatalf("PushEvent after the loss = %v, want ErrLost", err)
		}
		rec := fleet.Record{Prefix: netip.MustParsePrefix("192.0.2.32/32"), State: fleet.Block, Version: t0, Host: "a", Origin: "manual"}
		if _, err := a.PutRecord(ctxFor(t), rec, 9, 7); !errors.Is(err, fleet.ErrLost) {
			t.Fatalf("PutRecord after the loss = %v, want ErrLost", err)
		}
		if snap, err := a.Snapshot(ctxFor(t)); err != nil || len(snap.Records) != 0 {
			t.Fatalf("a refused write was written: %+v, %v", snap, err)
		}
		if n, err := a.Acked(ctxFor(t), "a"); err != nil || n != 0 {
			t.Fatalf("Acked after refused writes = %d, %v; want 0", n, err)
		}
	})
}

func TestTheRuleIsStoredOnceAndNeverChangedSilently(t *testing.T) {
	each(t, func(t *testing.T, h harness) {
		a := h.host("a")
		if _, err := a.PushEvent(ctxFor(t), ev("192.0.2.40", 0, "sshd", 1), 0); !errors.Is(err, fleet.ErrNotInitialised) {
			t.Fatalf("PushEvent before init = %v, want ErrNotInitialised", err)
		}
		if _, err := a.Init(ctxFor(t), hourRule, false); err != nil {
			t.Fatal(err)
		}
		other := fleet.Rule{Threshold: 5, Window: time.Hour}
		got, err := h.host("b").Init(ctxFor(t), other, false)
		if !errors.Is(err, fleet.ErrRuleDiffers) || got != hourRule {
			t.Fatalf("Init of another rule = %+v, %v; want the stored rule and ErrRuleDiffers", got, err)
		}
		if _, err := h.host("b").Init(ctxFor(t), other, true); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Rule(ctxFor(t)); err != nil || got != other {
			t.Fatalf("Rule after a forced init = %+v, %v", got, err)
		}
	})
}
