package blocklist_test

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

func TestEntryString(t *testing.T) {
	added := at("2026-11-24T13:55:51Z")
	tests := []struct {
		name string
		e    blocklist.Entry
		want string
	}{
		{
			name: "offender_carries_time_jails_and_bans",
			e:    blocklist.Entry{Prefix: pfx("203.0.113.7/32"), Added: added, Jails: []string{"sshd", "postfix"}, Bans: 3},
			want: "203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3",
		},
		{
			name: "offender_with_ban_time_carries_expiry",
			e: blocklist.Entry{Prefix: pfx("203.0.113.7/32"), Added: added, Jails: []string{"sshd"}, Bans: 3,
				Expires: added.Add(7 * 24 * time.Hour)},
			want: "203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd bans=3 expires=2026-12-01T13:55:51Z",
		},
		{
			name: "manual_ban_with_free_text",
			e:    blocklist.Entry{Prefix: pfx("198.51.100.0/24"), Added: added, Manual: true, Comment: "abuse ticket 42"},
			want: "198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z manual abuse ticket 42",
		},
		{
			name: "manual_ban_whose_comment_is_already_a_recidivist_comment_is_written_verbatim",
			e: blocklist.Entry{Prefix: pfx("198.51.100.9/32"), Added: added, Manual: true,
				Comment: "recidivist 2026-11-24T13:55:51Z manual from the CLI"},
			want: "198.51.100.9 # recidivist 2026-11-24T13:55:51Z manual from the CLI",
		},
		{
			name: "times_are_written_in_utc",
			e:    blocklist.Entry{Prefix: pfx("2001:db8::7/128"), Added: added.In(time.FixedZone("CET", 3600)), Manual: true},
			want: "2001:db8::7 # recidivist 2026-11-24T13:55:51Z manual",
		},
		{
			name: "hand_written_entry_keeps_its_comment",
			e:    blocklist.Entry{Prefix: pfx("192.0.2.10/32"), Comment: "fail2ban/2013-03-02 14:05:11: auto-add"},
			want: "192.0.2.10 # fail2ban/2013-03-02 14:05:11: auto-add",
		},
		{
			name: "bare_address_has_no_comment",
			e:    blocklist.Entry{Prefix: pfx("192.0.2.10/32")},
			want: "192.0.2.10",
		},
		{
			name: "line_breaks_in_a_comment_stay_on_the_line",
			e:    blocklist.Entry{Prefix: pfx("192.0.2.10/32"), Added: added, Manual: true, Comment: "a\nb\r\nc"},
			want: "192.0.2.10 # recidivist 2026-11-24T13:55:51Z manual a b  c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.String(); got != tt.want {
				t.Errorf("String() =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	added := at("2026-11-24T13:55:51Z")
	in := []blocklist.Entry{
		{Prefix: pfx("203.0.113.7/32"), Added: added, Jails: []string{"sshd", "postfix"}, Bans: 3},
		{Prefix: pfx("203.0.113.8/32"), Added: added, Jails: []string{"nginx-http-auth"}, Bans: 5, Expires: added.Add(time.Hour)},
		{Prefix: pfx("198.51.100.0/24"), Added: added, Manual: true, Comment: "abuse ticket 42"},
		{Prefix: pfx("2001:db8::/48"), Added: added, Manual: true, Expires: added.Add(24 * time.Hour)},
		{Prefix: pfx("192.0.2.1/32"), Comment: "hand made"},
	}
	f := mirrorIn(t, "")
	added2, err := f.Add(in...)
	if err != nil {
		t.Fatal(err)
	}
	if len(added2) != len(in) {
		t.Fatalf("Add returned %d entries, want %d", len(added2), len(in))
	}
	got := mustLoad(t, f)
	if len(got) != len(in) {
		t.Fatalf("loaded %d entries, want %d:\n%s", len(got), len(in), readFile(t, f))
	}
	for i := range in {
		w, g := in[i], got[i]
		if g.Prefix != w.Prefix || !g.Added.Equal(w.Added) || !g.Expires.Equal(w.Expires) ||
			!reflect.DeepEqual(g.Jails, w.Jails) || g.Bans != w.Bans || g.Manual != w.Manual {
			t.Errorf("entry %d: loaded %+v, want %+v", i, g, w)
		}
		if g.String() != w.String() {
			t.Errorf("entry %d: re-serialised as %q, written as %q", i, g.String(), w.String())
		}
	}
	if got[2].Comment != "recidivist 2026-11-24T13:55:51Z manual abuse ticket 42" {
		t.Errorf("Comment of a loaded manual entry = %q, want the full comment text", got[2].Comment)
	}
}

func TestNote(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"free text after the metadata", "203.0.113.7 # recidivist 2026-11-24T13:55:51Z manual webmail brute force", "webmail brute force"},
		{"metadata only", "203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3 expires=2026-12-01T13:55:51Z", ""},
		{"a hand-written comment is all note", "203.0.113.7 # the office printer, compromised", "the office printer, compromised"},
		{"a field that does not parse starts the note", "203.0.113.7 # recidivist 2026-11-24T13:55:51Z bans=many and more", "bans=many and more"},
		{"no comment", "203.0.113.7", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := mustLoad(t, mirrorIn(t, tt.line+"\n"))
			if len(es) != 1 {
				t.Fatalf("loaded %d entries from %q", len(es), tt.line)
			}
			if got := es[0].Note(); got != tt.want {
				t.Errorf("Note() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExpiredAtItsExpiryAndNeverWithoutOne(t *testing.T) {
	now := at("2026-11-25T12:00:00Z")
	for _, tt := range []struct {
		expires time.Time
		want    bool
	}{
		{time.Time{}, false},
		{now.Add(time.Second), false},
		{now, true},
		{now.Add(-time.Second), true},
	} {
		if got := (blocklist.Entry{Expires: tt.expires}).Expired(now); got != tt.want {
			t.Errorf("Expires %v: Expired(%v) = %v, want %v", tt.expires, now, got, tt.want)
		}
	}
}

func TestInForce_yields_the_entries_whose_expiry_has_not_come(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	es := []blocklist.Entry{
		{Prefix: netip.MustParsePrefix("192.0.2.1/32")},                                    // permanent
		{Prefix: netip.MustParsePrefix("192.0.2.2/32"), Expires: now.Add(time.Second)},     // a second left
		{Prefix: netip.MustParsePrefix("192.0.2.3/32"), Expires: now},                      // due now: out
		{Prefix: netip.MustParsePrefix("192.0.2.4/32"), Expires: now.Add(-time.Hour)},      // long gone
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Expires: now.Add(24 * time.Hour)}, // in force
	}
	var got []string
	for e := range blocklist.InForce(es, now) {
		got = append(got, e.Prefix.String())
	}
	if want := []string{"192.0.2.1/32", "192.0.2.2/32", "2001:db8::/32"}; !slices.Equal(got, want) {
		t.Errorf("InForce = %v, want %v", got, want)
	}
	for range blocklist.InForce(es, now) {
		break // stopping early must not panic
	}
}
