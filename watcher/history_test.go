package watcher

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

// op is one call on a Tracker in a replayed history: a ban, or a Forgive
// (forgive set) or an Expire (expire set) at ban.Time.
type op struct {
	ban     Ban
	forgive netip.Prefix
	expire  bool
}

// syntheticOps returns a deterministic day of bans from 300 addresses of both
// families in 40 jails, up to 30 seconds out of order, with a few Forgive and
// Expire calls among them.
func syntheticOps() []op {
	rng := rand.New(rand.NewPCG(1, 2))
	at := t0
	var ops []op
	for i := range 6000 {
		at = at.Add(time.Duration(rng.IntN(30)) * time.Second)
		n := rng.IntN(300)
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(n)})
		if n%3 == 0 {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(n % 7), 15: byte(n)})
		}
		jitter := time.Duration(rng.IntN(30)) * time.Second
		ops = append(ops, op{ban: Ban{Time: at.Add(-jitter), Jail: fmt.Sprintf("jail%02d", rng.IntN(40)), Addr: addr}})
		switch {
		case i%997 == 500:
			ops = append(ops, op{ban: Ban{Time: at}, forgive: netip.PrefixFrom(addr, addr.BitLen())})
		case i%1999 == 1000:
			ops = append(ops, op{ban: Ban{Time: at}, forgive: netip.MustParsePrefix("198.51.100.0/26")})
		case i%1500 == 1499:
			ops = append(ops, op{ban: Ban{Time: at}, expire: true})
		}
	}
	return ops
}

// replay applies ops to tr and returns what each ban decided.
func replay(tr *Tracker, ops []op) []Offender {
	var decided []Offender
	for _, o := range ops {
		switch {
		case o.forgive.IsValid():
			tr.Forgive(o.forgive, o.ban.Time)
		case o.expire:
			tr.Expire(o.ban.Time)
		default:
			if off, ok := tr.Observe(o.ban); ok {
				decided = append(decided, off)
			}
		}
	}
	return decided
}

// restarted writes tr's history and reads it into a new Tracker that had
// other bans before, as a daemon does across a restart.
func restarted(t testing.TB, tr *Tracker, threshold int, window time.Duration) *Tracker {
	t.Helper()
	var buf bytes.Buffer
	written, err := tr.WriteTo(&buf)
	if err != nil || written != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", written, err, buf.Len())
	}
	fresh := NewTracker(threshold, window)
	fresh.Observe(Ban{Time: t0, Jail: "stale", Addr: netip.MustParseAddr("203.0.113.200")})
	size := int64(buf.Len())
	if read, err := fresh.ReadFrom(&buf); err != nil || read != size {
		t.Fatalf("ReadFrom = %d, %v; want %d, nil", read, err, size)
	}
	return fresh
}

func TestTrackerHistoryRoundTripKeepsDecisions(t *testing.T) {
	const threshold, window = 3, 30 * time.Minute
	ops := syntheticOps()
	whole := NewTracker(threshold, window)
	want := replay(whole, ops)
	if len(want) < 50 {
		t.Fatalf("setup: only %d offenders in the synthetic day", len(want))
	}
	for _, split := range []int{0, 1, 700, len(ops) / 2, len(ops) - 1, len(ops)} {
		t.Run(fmt.Sprintf("a_restart_after_%d_calls_decides_the_same", split), func(t *testing.T) {
			before := NewTracker(threshold, window)
			got := replay(before, ops[:split])
			after := restarted(t, before, threshold, window)
			got = append(got, replay(after, ops[split:])...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decided %d offenders, the tracker that never stopped %d; first difference at %d",
					len(got), len(want), firstDifference(got, want))
			}
			if c, w := after.Candidates(), whole.Candidates(); !reflect.DeepEqual(c, w) {
				t.Errorf("%d candidates at the end, the tracker that never stopped %d", len(c), len(w))
			}
		})
	}
}

func firstDifference(a, b []Offender) int {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTrackerHistoryKeepsForgiveness(t *testing.T) {
	const a = "192.0.2.5"
	tests := []struct {
		name   string
		prefix string
		expire time.Duration // Expire at t0+expire before the restart, when not zero
		reread []step        // the log read again after the restart
		want   []int
	}{
		{"a_forgiven_address_old_lines_do_not_count_after_a_restart", a + "/32", 0,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}, {time.Minute, "sshd", a}}, nil},
		{"a_forgiven_range_old_lines_do_not_count_after_a_restart", "192.0.2.0/24", 0,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}, {time.Minute, "sshd", a}}, nil},
		{"old_lines_behind_the_horizon_do_not_count_after_the_record_expired", a + "/32", 3 * time.Hour,
			[]step{{0, "sshd", a}, {time.Second, "sshd", a}, {2 * time.Second, "sshd", a}}, nil},
		{"later_bans_count_afresh_after_a_restart", a + "/32", 0,
			[]step{{0, "sshd", a}, {time.Minute + time.Second, "sshd", a}, {time.Minute + 2*time.Second, "sshd", a},
				{time.Minute + 3*time.Second, "sshd", a}}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(3, time.Hour)
			observeAll(t, tr, []step{{0, "sshd", a}, {time.Second, "sshd", a}})
			tr.Forgive(netip.MustParsePrefix(tt.prefix), t0.Add(time.Minute))
			if tt.expire != 0 {
				tr.Expire(t0.Add(tt.expire))
			}
			after := restarted(t, tr, 3, time.Hour)
			if got, _ := observeAll(t, after, tt.reread); !slices.Equal(got, tt.want) {
				t.Errorf("offender at steps %v after the restart, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerHistoryFollowsTheReadersPolicy(t *testing.T) {
	tr := NewTracker(5, time.Hour)
	observeAll(t, tr, []step{{0, "sshd", "192.0.2.1"}, {time.Second, "postfix-sasl", "192.0.2.1"}, {2 * time.Second, "sshd", "192.0.2.1"}})
	after := restarted(t, tr, 3, time.Hour)
	o, ok := after.Observe(step{3 * time.Second, "sshd", "192.0.2.1"}.ban())
	if !ok || o.Bans != 4 || !slices.Equal(o.Jails, []string{"postfix-sasl", "sshd"}) {
		t.Errorf("Observe after a restart with threshold 3 = %+v, %v; want an offender with 4 bans in both jails", o, ok)
	}
}

// sampleHistory returns the history of a Tracker holding both families,
// more than 32 jails and forgiveness records.
func sampleHistory(t testing.TB) (*Tracker, []byte) {
	t.Helper()
	tr := NewTracker(3, time.Hour)
	for i := range 34 {
		tr.Observe(Ban{Time: t0.Add(time.Duration(i) * time.Hour), Jail: fmt.Sprintf("jail%02d", i), Addr: netip.MustParseAddr("192.0.2.1")})
	}
	observeAll(t, tr, []step{{0, "sshd", "2001:db8::1"}, {time.Second, "sshd", "2001:db8::1"}, {time.Second, "sshd", "198.51.100.7"}})
	tr.Forgive(netip.MustParsePrefix("203.0.113.0/24"), t0)
	tr.Forgive(netip.MustParsePrefix("2001:db8::99/128"), t0)
	var buf bytes.Buffer
	if _, err := tr.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return tr, buf.Bytes()
}

func TestTrackerHistoryRejectsDamage(t *testing.T) {
	src, good := sampleHistory(t)
	want := src.Candidates()
	check := func(t *testing.T, name string, data []byte) {
		t.Helper()
		tr := restarted(t, src, 3, time.Hour)
		_, err := tr.ReadFrom(bytes.NewReader(data))
		if !errors.Is(err, ErrCorruptHistory) && !errors.Is(err, ErrHistoryVersion) {
			t.Fatalf("%s: ReadFrom error = %v, want ErrCorruptHistory", name, err)
		}
		if got := tr.Candidates(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the failed ReadFrom changed the tracker: %d candidates, want %d", name, len(got), len(want))
		}
	}
	t.Run("every_truncation_is_an_error", func(t *testing.T) {
		for n := range len(good) {
			check(t, fmt.Sprintf("first %d of %d bytes", n, len(good)), good[:n])
		}
	})
	t.Run("every_changed_byte_is_an_error", func(t *testing.T) {
		for i := range good {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				data := slices.Clone(good)
				data[i] ^= flip
				check(t, fmt.Sprintf("byte %d xor %#x", i, flip), data)
			}
		}
	})
	t.Run("trailing_bytes_are_an_error", func(t *testing.T) {
		check(t, "one byte more", append(slices.Clone(good), 0))
	})
}

// history builds a history from body fields, after the magic and version,
// and seals it with its checksum.
func history(version byte, fields ...any) []byte {
	buf := append([]byte(historyMagic), version)
	for _, f := range fields {
		switch v := f.(type) {
		case int:
			buf = binary.AppendUvarint(buf, uint64(v))
		case int64:
			buf = binary.AppendVarint(buf, v)
		case string:
			buf = append(buf, v...)
		case []byte:
			buf = append(buf, v...)
		default:
			panic(fmt.Sprintf("history field %T", f))
		}
	}
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func TestTrackerHistoryRejectsGarbledRecordsWithAValidChecksum(t *testing.T) {
	var (
		now     = t0.UnixMicro()
		jails   = []any{1, 4, "sshd"}
		ip      = []byte{4, 192, 0, 2, 1}
		record  = []any{ip, 2, now, 2, 0, 1000, 1, 0} // bans, first, times(+0, +1000), jails [0]
		header  = []any{int64(0), now + 1000}         // horizon, newest
		noForgv = []any{0}
	)
	build := func(version byte, parts ...[]any) []byte {
		var fields []any
		for _, p := range parts {
			fields = append(fields, p...)
		}
		return history(version, fields...)
	}
	t.Run("the_hand_built_history_is_valid", func(t *testing.T) {
		tr := NewTracker(3, time.Hour)
		if _, err := tr.ReadFrom(bytes.NewReader(build(1, header, jails, noForgv, []any{1}, record))); err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		c := tr.Candidates()
		if len(c) != 1 || c[0].Bans != 2 || !c[0].Last.Equal(time.UnixMicro(now+1000)) {
			t.Fatalf("Candidates = %+v, want 192.0.2.1 with 2 bans", c)
		}
	})
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"an_unknown_version", build(2, header, jails, noForgv, []any{1}, record), ErrHistoryVersion},
		{"a_jail_index_past_the_jails", build(1, header, jails, noForgv, []any{1, ip, 2, now, 2, 0, 1000, 1, 1}), ErrCorruptHistory},
		{"a_repeated_jail_name", build(1, header, []any{2, 4, "sshd", 4, "sshd"}, noForgv, []any{0}), ErrCorruptHistory},
		{"an_empty_jail_name", build(1, header, []any{1, 0}, noForgv, []any{0}), ErrCorruptHistory},
		{"the_same_address_twice", build(1, header, jails, noForgv, []any{2}, record, record), ErrCorruptHistory},
		{"ban_times_out_of_order", build(1, header, jails, noForgv, []any{1, ip, 2, now, 2, 1000, 0, 1, 0}), ErrCorruptHistory},
		{"no_bans", build(1, header, jails, noForgv, []any{1, ip, 0, now, 1, 0, 1, 0}), ErrCorruptHistory},
		{"more_times_than_bans", build(1, header, jails, noForgv, []any{1, ip, 1, now, 2, 0, 1000, 1, 0}), ErrCorruptHistory},
		{"no_jail", build(1, header, jails, noForgv, []any{1, ip, 2, now, 2, 0, 1000, 0}), ErrCorruptHistory},
		{"an_unknown_address_family", build(1, header, jails, noForgv, []any{1, []byte{5, 1, 2, 3, 4}, 2, now, 2, 0, 1000, 1, 0}), ErrCorruptHistory},
		{"a_forgiven_prefix_with_host_bits", build(1, header, jails, []any{1, ip, []byte{24}, now}, []any{0}), ErrCorruptHistory},
		{"a_forgiven_prefix_too_long", build(1, header, jails, []any{1, ip, []byte{33}, now}, []any{0}), ErrCorruptHistory},
		{"a_count_larger_than_the_data", build(1, header, jails, noForgv, []any{1 << 40}), ErrCorruptHistory},
		{"bytes_after_the_last_record", build(1, header, jails, noForgv, []any{1}, record, []any{0}), ErrCorruptHistory},
		{"no_magic", []byte("{\"tracked\": []}\n"), ErrCorruptHistory},
		{"an_empty_file", nil, ErrCorruptHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(3, time.Hour)
			if _, err := tr.ReadFrom(bytes.NewReader(tt.data)); !errors.Is(err, tt.want) {
				t.Errorf("ReadFrom error = %v, want %v", err, tt.want)
			}
			if tr.Len() != 0 {
				t.Errorf("Len = %d after a failed ReadFrom, want 0", tr.Len())
			}
		})
	}
}

// FuzzTrackerReadFrom feeds sealed histories (valid checksum, any body) to
// ReadFrom: it must never panic, and what it accepts must survive another
// round trip unchanged.
func FuzzTrackerReadFrom(f *testing.F) {
	_, good := sampleHistory(f)
	f.Add(good[len(historyMagic)+1 : len(good)-crc32.Size])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		data := history(historyVersion, body)
		tr := NewTracker(3, time.Hour)
		if _, err := tr.ReadFrom(bytes.NewReader(data)); err != nil {
			if !errors.Is(err, ErrCorruptHistory) {
				t.Fatalf("ReadFrom error %v does not wrap ErrCorruptHistory", err)
			}
			return
		}
		again := restarted(t, tr, 3, time.Hour)
		if got, want := again.Candidates(), tr.Candidates(); !reflect.DeepEqual(got, want) {
			t.Fatalf("a second round trip changed the candidates: %+v, want %+v", got, want)
		}
	})
}
