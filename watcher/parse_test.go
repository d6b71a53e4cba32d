package watcher

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseOne parses line with a fresh parser in UTC whose clock reads now.
func parseOne(t *testing.T, line string, now time.Time) (Ban, Verdict, *Parser) {
	t.Helper()
	p := NewParser(ParserConfig{Location: time.UTC, Now: func() time.Time { return now }})
	b, v := p.Parse([]byte(line))
	return b, v, p
}

var handNow = time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC)

func TestParse_every_ban_line_shape_counts_with_its_jail_address_and_time(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	tests := []struct {
		name string
		line string
		jail string
		addr string
		time time.Time
	}{
		{"fail2ban_1_0_padded_logger_and_level", "2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10", "sshd", "192.0.2.10", at("2026-11-24T15:51:53.831Z")},
		{"fail2ban_0_8_warning_without_pid", "2006-02-13 15:52:30,388 fail2ban.actions: WARNING [sendmail] Ban 1.2.3.4", "sendmail", "1.2.3.4", at("2006-02-13T15:52:30.388Z")},
		{"fail2ban_0_8_12_warning_with_pid", "2006-02-13 15:52:30,388 fail2ban.actions[123]: WARNING [sendmail] Ban 1.2.3.4", "sendmail", "1.2.3.4", at("2006-02-13T15:52:30.388Z")},
		{"fail2ban_0_9_0_server_actions_logger", "2006-02-13 15:52:30,388 fail2ban.server.actions[123]: NOTICE  [sendmail] Ban 1.2.3.4", "sendmail", "1.2.3.4", at("2006-02-13T15:52:30.388Z")},
		{"notice_without_pid", "2006-02-13 15:52:30,388 fail2ban.actions: NOTICE [sendmail] Ban 1.2.3.4", "sendmail", "1.2.3.4", at("2006-02-13T15:52:30.388Z")},
		{"rsyslog_file_format_rfc3339", "2026-11-24T15:53:23.380751+00:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-24T15:53:23.380751Z")},
		{"rfc3339_with_offset_is_converted", "2026-11-24T16:53:23.5+01:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-24T15:53:23.5Z")},
		{"journal_short_iso_offset_without_colon", "2026-11-24T10:53:23-0500 vm fail2ban-server[1]: fail2ban.actions        [1]: NOTICE  [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-24T15:53:23Z")},
		{"iso_with_z", "2026-11-24T15:53:23Z vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-24T15:53:23Z")},
		{"rsyslog_traditional_format", "Nov 24 15:53:23 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-24T15:53:23Z")},
		{"traditional_space_padded_day", "Nov  4 05:03:02 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", "sshd", "198.51.100.201", at("2026-11-04T05:03:02Z")},
		{"traditional_zero_padded_day_with_daemon_prefix", "Mar 05 08:41:28 test.org fail2ban-server[11524]: fail2ban.actions        [11524]: NOTICE  [postfix-auth] Ban 192.0.2.2", "postfix-auth", "192.0.2.2", at("2026-03-05T08:41:28Z")},
		{"traditional_0_8_syslog_without_pid", "Sep 16 00:44:55 spaceman fail2ban.actions: WARNING [jail] Ban 10.0.0.7", "jail", "10.0.0.7", at("2026-09-16T00:44:55Z")},
		{"traditional_date_after_now_is_last_year", "Dec 31 23:59:59 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", "sshd", "192.0.2.1", at("2025-12-31T23:59:59Z")},
		{"journal_daemon_tag_with_level", "2026-11-24T15:53:23+00:00 vm fail2ban[1]: NOTICE [sshd] Ban 192.0.2.1", "sshd", "192.0.2.1", at("2026-11-24T15:53:23Z")},
		{"ipv6_compressed", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [nginx-http-auth] Ban 2001:db8::bad:1", "nginx-http-auth", "2001:db8::bad:1", at("2026-11-24T15:51:55.851Z")},
		{"ipv6_full_and_upper_case", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:0DB8:0000:0000:0000:0000:0BAD:0001", "sshd", "2001:db8::bad:1", at("2026-11-24T15:51:55.851Z")},
		{"ipv4_mapped_ipv6_is_folded_to_ipv4", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [sshd] Ban ::ffff:198.51.100.150", "sshd", "198.51.100.150", at("2026-11-24T15:51:55.851Z")},
		{"loopback_is_parsed_and_left_to_the_filter", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 127.0.0.1", "sshd", "127.0.0.1", at("2026-11-24T15:51:55.851Z")},
		{"trailing_spaces_and_tab", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10  \t ", "sshd", "192.0.2.10", at("2026-11-24T15:51:55.851Z")},
		{"crlf_line_ending", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10\r", "sshd", "192.0.2.10", at("2026-11-24T15:51:55.851Z")},
		{"jail_name_containing_ban", "2026-11-24 15:51:55,851 fail2ban.actions        [9091]: NOTICE  [Ban-Ban] Ban 192.0.2.10", "Ban-Ban", "192.0.2.10", at("2026-11-24T15:51:55.851Z")},
		{"host_named_fail2ban", "Nov 24 15:53:23 fail2ban fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", "sshd", "192.0.2.1", at("2026-11-24T15:53:23Z")},
		{"journal_short_from_a_host_named_fail2ban", "2026-11-24T15:53:23+0000 fail2ban fail2ban[1]: [sshd] Ban 192.0.2.1", "sshd", "192.0.2.1", at("2026-11-24T15:53:23Z")},
		{"hostname_looking_like_a_logger", "Nov 24 15:53:23 fail2ban.example fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", "sshd", "192.0.2.1", at("2026-11-24T15:53:23Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, v, p := parseOne(t, tt.line, handNow)
			if v != Countable {
				t.Fatalf("Parse(%q) = %v (skipped %v), want Countable", tt.line, v, p.Skipped())
			}
			if b.Jail != tt.jail || b.Addr != netip.MustParseAddr(tt.addr) || !b.Time.Equal(tt.time) {
				t.Errorf("Parse(%q) = [%s] %s at %v, want [%s] %s at %v", tt.line, b.Jail, b.Addr, b.Time, tt.jail, tt.addr, tt.time)
			}
		})
	}
}

func TestParse_lines_that_are_not_countable_bans_are_not_counted(t *testing.T) {
	const ts = "2026-11-24 15:52:11,217 "
	tests := []struct {
		name string
		line string
	}{
		{"restore_ban", ts + "fail2ban.actions        [9484]: NOTICE  [nginx-http-auth] Restore Ban 198.51.100.150"},
		{"reban", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] Reban 192.0.2.10, action 'iptables-multiport'"},
		{"unban", ts + "fail2ban.actions        [9091]: NOTICE  [nginx-http-auth] Unban 198.51.100.77"},
		{"unban_of_a_jail_named_ban", ts + "fail2ban.actions        [9091]: NOTICE  [Ban] Unban 198.51.100.77"},
		{"already_banned_notice", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] 192.0.2.10 already banned"},
		{"already_banned_warning", ts + "fail2ban.actions        [9091]: WARNING [sshd] 192.0.2.10 already banned"},
		{"increase_ban_of_the_observer", ts + "fail2ban.observer       [9091]: NOTICE  [sshd] Increase Ban 192.0.2.10 (2 # 12s -> 2026-11-24 15:52:18)"},
		{"found_bad_ending_in_ban", ts + "fail2ban.observer       [9091]: INFO    [sshd] Found 192.0.2.10, bad - 2026-11-24 15:52:10, 2 # -> 3.0, Ban"},
		{"found_by_a_jail_named_ban", ts + "fail2ban.filter         [9091]: INFO    [Ban] Found 192.0.2.10 - 2026-11-24 15:52:10"},
		{"ban_from_another_logger", ts + "fail2ban.observer       [9091]: NOTICE  [sshd] Ban 192.0.2.10"},
		{"ban_at_info_level", ts + "fail2ban.actions        [9091]: INFO    [sshd] Ban 192.0.2.10"},
		{"ban_of_an_address_with_a_space_inside", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0. 2.1"},
		{"ban_followed_by_more_words", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10 by hand"},
		{"ban_without_address", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] Ban"},
		{"exec_continuation_line", "iptables -w -C INPUT -p $proto -m multiport --dports ssh -j f2b-sshd"},
		{"exec_continuation_done", "done"},
		{"continuation_line_quoting_a_ban", "echo '[sshd] Ban 192.0.2.10'"},
		{"start_up_chatter", ts + "fail2ban.server         [9091]: INFO    Starting Fail2ban v1.0.2"},
		{"empty_line", ""},
		{"flush", ts + "fail2ban.actions        [9091]: NOTICE  [sshd] Flush ticket(s) with iptables-multiport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, v, p := parseOne(t, tt.line, handNow)
			if v != NotBan {
				t.Errorf("Parse(%q) = %v %+v, want NotBan", tt.line, v, b)
			}
			if s := p.Skipped(); len(s) != 0 {
				t.Errorf("Parse(%q) counted skips %v for a well-formed line", tt.line, s)
			}
		})
	}
}

func TestParse_malformed_ban_lines_are_skipped_and_counted_by_reason(t *testing.T) {
	const prefix = "2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  "
	tests := []struct {
		name   string
		line   string
		reason SkipReason
	}{
		{"word_instead_of_address", prefix + "[sshd] Ban foo", BadAddress},
		{"ipv4_octet_out_of_range", prefix + "[sshd] Ban 999.1.1.1", BadAddress},
		{"unspecified_ipv4", prefix + "[sshd] Ban 0.0.0.0", BadAddress},
		{"unspecified_ipv6", prefix + "[sshd] Ban ::", BadAddress},
		{"multicast_ipv4", prefix + "[sshd] Ban 224.0.0.1", BadAddress},
		{"multicast_ipv6", prefix + "[sshd] Ban ff02::1", BadAddress},
		{"broadcast", prefix + "[sshd] Ban 255.255.255.255", BadAddress},
		{"prefix_instead_of_address", prefix + "[sshd] Ban 10.0.0.1/24", BadAddress},
		{"ipv6_with_zone", prefix + "[sshd] Ban fe80::1%eth0", BadAddress},
		{"address_too_long_to_be_one", prefix + "[sshd] Ban " + strings.Repeat("1", 60), BadAddress},
		{"empty_jail", prefix + "[] Ban 192.0.2.1", BadJail},
		{"jail_with_a_space", prefix + "[my jail] Ban 192.0.2.1", BadJail},
		{"month_out_of_range", "2026-13-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.1", BadTimestamp},
		{"year_before_the_epoch", "0001-01-01 00:00:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.1", BadTimestamp},
		{"february_30", "2026-02-30 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.1", BadTimestamp},
		{"hour_out_of_range", "Nov 24 25:53:23 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", BadTimestamp},
		{"zone_out_of_range", "2026-11-24T15:53:23+99:00 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", BadTimestamp},
		{"journal_line_before_any_timestamp", "host fail2ban[15699]: [postfix-sasl] Ban 192.0.2.3", NoTimestamp},
		{"nul_byte", prefix + "[sshd] Ban 192.0.2.1\x00", NULByte},
		{"zero_filled_block", string(make([]byte, 4096)), NULByte},
		{"invalid_utf8", prefix + "[ss\xffhd] Ban 192.0.2.1", InvalidUTF8},
		{"one_mebibyte_line", prefix + "[sshd] Ban 192.0.2.1" + strings.Repeat(" ", 1<<20), TooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, v, p := parseOne(t, tt.line, handNow)
			if v != Skipped {
				t.Fatalf("Parse(%.80q) = %v %+v, want Skipped(%v)", tt.line, v, b, tt.reason)
			}
			if got := p.Skipped(); len(got) != 1 || got[tt.reason] != 1 {
				t.Errorf("Skipped() = %v, want {%v: 1}", got, tt.reason)
			}
		})
	}
}

func TestParse_skips_accumulate_per_reason(t *testing.T) {
	p := NewParser(ParserConfig{Location: time.UTC})
	lines := []string{
		"x\x00", "y\x00", "\xfe",
		"2026-11-24 15:51:53,831 fail2ban.actions        [1]: NOTICE  [sshd] Ban nope",
		"2026-11-24 15:51:53,831 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.1",
	}
	for _, l := range lines {
		p.Parse([]byte(l))
	}
	p.Parse(bytes.Repeat([]byte("a"), MaxLineLength+1))
	want := map[SkipReason]uint64{NULByte: 2, InvalidUTF8: 1, BadAddress: 1, TooLong: 1}
	if got := p.Skipped(); !equalSkips(got, want) {
		t.Errorf("Skipped() = %v, want %v", got, want)
	}
}

func TestParse_a_line_of_exactly_the_maximum_length_is_read(t *testing.T) {
	line := "2026-11-24 15:51:53,831 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.1"
	line += strings.Repeat(" ", MaxLineLength-len(line))
	if _, v, p := parseOne(t, line, handNow); v != Countable {
		t.Errorf("Parse of a %d-byte line = %v (skipped %v), want Countable", len(line), v, p.Skipped())
	}
}

func TestParse_a_ban_line_without_its_own_timestamp_never_counts(t *testing.T) {
	// Anyone who can get a line into the log without a timestamp (a
	// continuation of another program's message, a forged line) must not
	// borrow the time of the line before it: three of them after one
	// genuine ban would otherwise make an offender of their address.
	p := NewParser(ParserConfig{Location: time.UTC, Now: func() time.Time { return handNow }})
	lines := []string{
		"2026-11-24 15:51:53,831 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.3",
		"    fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.3",
		"fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.3",
		"host fail2ban[15699]: [postfix-sasl] Ban 192.0.2.3",
	}
	for i, l := range lines {
		b, v := p.Parse([]byte(l))
		if want := map[bool]Verdict{true: Countable, false: Skipped}[i == 0]; v != want {
			t.Errorf("Parse(%q) = %v %+v, want %v", l, v, b, want)
		}
	}
	if got, want := p.Skipped(), map[SkipReason]uint64{NoTimestamp: 3}; !equalSkips(got, want) {
		t.Errorf("Skipped() = %v, want %v", got, want)
	}

	pipe, tracker := newTestPipeline(3, time.Hour)
	for _, l := range []string{lines[0], lines[1], lines[1], lines[1]} {
		if o, ok := pipe.Line([]byte(l)); ok {
			t.Errorf("one timestamped ban and three without made an offender: %+v", o)
		}
	}
	if c := tracker.Candidates(); len(c) != 1 || c[0].Bans != 1 {
		t.Errorf("candidates %v, want 192.0.2.3 with its one timestamped ban", c)
	}
}

func TestParse_a_run_of_NUL_bytes_before_a_line_is_stripped(t *testing.T) {
	// A crash leaves the tail of a log zero-filled; the line fail2ban
	// appends after its restart follows the NUL block directly.
	ban := "2026-11-24 15:51:53,831 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.3"
	for _, n := range []int{1, 4096, MaxLineLength} {
		b, v, p := parseOne(t, strings.Repeat("\x00", n)+ban, handNow)
		if v != Countable || b.Addr != netip.MustParseAddr("192.0.2.3") || b.Jail != "sshd" {
			t.Errorf("%d NUL bytes then a ban: %v %+v (skipped %v), want Countable [sshd] 192.0.2.3", n, v, b, p.Skipped())
		}
	}
	// NUL bytes inside or after the text still make the line malformed.
	for _, line := range []string{ban[:40] + "\x00" + ban[40:], "\x00\x00" + ban + "\x00"} {
		if _, v, p := parseOne(t, line, handNow); v != Skipped || p.Skipped()[NULByte] != 1 {
			t.Errorf("Parse(%q) = %v (skipped %v), want Skipped(nul-byte)", line, v, p.Skipped())
		}
	}
}

func TestParse_ban_of_a_known_jail_allocates_nothing(t *testing.T) {
	p := NewParser(ParserConfig{Location: time.UTC})
	lines := [][]byte{
		[]byte("2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10"),
		[]byte("2026-11-24T15:53:23.380751+00:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 2001:db8::bad:1"),
	}
	p.Parse(lines[0])
	var first Ban
	allocs := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			b, v := p.Parse(l)
			if v != Countable {
				t.Fatalf("Parse(%q) = %v", l, v)
			}
			first = b
		}
	})
	if allocs != 0 {
		t.Errorf("Parse of ban lines allocates %v times per run, want 0", allocs)
	}
	if first.Jail != "sshd" {
		t.Errorf("jail = %q, want sshd", first.Jail)
	}
}

func TestParse_the_ban_does_not_alias_the_line_buffer(t *testing.T) {
	p := NewParser(ParserConfig{Location: time.UTC})
	buf := []byte("2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [fresh] Ban 192.0.2.10")
	b, v := p.Parse(buf)
	for i := range buf {
		buf[i] = 'x'
	}
	if v != Countable || b.Jail != "fresh" || b.Addr != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("after reusing the buffer: %v [%s] %s, want Countable [fresh] 192.0.2.10", v, b.Jail, b.Addr)
	}
}

func TestVerdict_and_SkipReason_have_names(t *testing.T) {
	tests := []struct{ got, want string }{
		{NotBan.String(), "NotBan"}, {Countable.String(), "Countable"}, {Skipped.String(), "Skipped"},
		{TooLong.String(), "too-long"}, {BadAddress.String(), "bad-address"}, {NoTimestamp.String(), "no-timestamp"},
		{SkipReason(200).String(), "SkipReason(200)"}, {Verdict(9).String(), "Verdict(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("name %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParse_every_combination_of_stamp_prefix_jail_address_and_ending(t *testing.T) {
	stamps := []struct {
		text string
		want time.Time
	}{
		{"2026-11-24 15:51:53,831 ", time.Date(2026, 11, 24, 15, 51, 53, 831e6, time.UTC)},
		{"2026-11-24T15:51:53.831000+00:00 ", time.Date(2026, 11, 24, 15, 51, 53, 831e6, time.UTC)},
		{"Nov 24 15:51:53 ", time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)},
		{"", time.Time{}}, // never the time of the line before: skipped
	}
	prefixes := []string{
		"fail2ban.actions        [9091]: NOTICE  ",
		"fail2ban.actions[9091]: WARNING ",
		"fail2ban.actions: WARNING ",
		"fail2ban.server.actions[123]: NOTICE  ",
		"vm fail2ban.actions[9723]: NOTICE ",
		"vm fail2ban-server[11524]: fail2ban.actions        [11524]: NOTICE  ",
		"vm fail2ban[15699]: ",
		"vm fail2ban-server[1]: NOTICE ",
	}
	jails := []string{"sshd", "postfix-sasl", "Ban", "nginx-http-auth"}
	addrs := []struct{ text, want string }{
		{"192.0.2.10", "192.0.2.10"},
		{"2001:db8::bad:1", "2001:db8::bad:1"},
		{"::ffff:198.51.100.150", "198.51.100.150"},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
	}
	endings := []string{"", "  ", "\r", " \t\r"}
	// Only "Ban" counts; the other messages share everything else.
	messages := []struct {
		verb string
		want Verdict
	}{{"Ban", Countable}, {"Unban", NotBan}, {"Restore Ban", NotBan}, {"Reban", NotBan}}

	p := NewParser(ParserConfig{Location: time.UTC, Now: func() time.Time { return handNow }})
	untimed := uint64(0)
	for _, st := range stamps {
		for _, prefix := range prefixes {
			for _, jail := range jails {
				for _, a := range addrs {
					for _, end := range endings {
						for _, m := range messages {
							p.Parse([]byte("2026-11-24 15:51:50,000 fail2ban.filter         [1]: INFO    [sshd] Found 192.0.2.99 - 2026-11-24 15:51:50"))
							line := st.text + prefix + "[" + jail + "] " + m.verb + " " + a.text + end
							b, v := p.Parse([]byte(line))
							want := m.want
							if want == Countable && st.text == "" {
								want = Skipped
								untimed++
							}
							if v != want {
								t.Errorf("Parse(%q) = %v, want %v", line, v, want)
								continue
							}
							if v == Countable && (b.Jail != jail || b.Addr != netip.MustParseAddr(a.want) || !b.Time.Equal(st.want)) {
								t.Errorf("Parse(%q) = [%s] %s at %v, want [%s] %s at %v", line, b.Jail, b.Addr, b.Time, jail, a.want, st.want)
							}
						}
					}
				}
			}
		}
	}
	if s, want := p.Skipped(), map[SkipReason]uint64{NoTimestamp: untimed}; !equalSkips(s, want) {
		t.Errorf("skipped %v, want only the %d ban lines without timestamp", s, untimed)
	}
}

func TestParse_skip_counts_can_be_read_while_another_goroutine_parses(t *testing.T) {
	p := NewParser(ParserConfig{Location: time.UTC})
	const n = 10000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			p.Parse([]byte("bad\x00line"))
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if got := p.Skipped()[NULByte]; got > n {
				t.Fatalf("Skipped()[NULByte] = %d while parsing, more than the %d lines", got, n)
			}
		}
	}
	if got := p.Skipped()[NULByte]; got != n {
		t.Errorf("Skipped()[NULByte] = %d, want %d", got, n)
	}
}

func TestRelayed_tells_syslog_and_journal_lines_from_fail2bans_own_file(t *testing.T) {
	tests := []struct {
		line    string
		relayed bool
	}{
		{"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10", false},
		{"2006-02-13 15:52:30,388 fail2ban.actions: WARNING [sendmail] Ban 1.2.3.4", false},
		{"2026-11-24T15:53:23.380751+00:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", true},
		{"Nov 24 15:53:23 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201", true},
		{"Mar 05 08:41:28 test.org fail2ban-server[11524]: fail2ban.actions        [11524]: NOTICE  [postfix-auth] Ban 192.0.2.2", true},
		{"2026-11-24T15:53:23+0000 vm fail2ban[1]: [sshd] Ban 192.0.2.1", true},
	}
	for _, tt := range tests {
		if _, v, _ := parseOne(t, tt.line, handNow); v != Countable {
			t.Fatalf("Parse(%q) = %v, want a countable line to test", tt.line, v)
		}
		if got := Relayed([]byte(tt.line)); got != tt.relayed {
			t.Errorf("Relayed(%q) = %v, want %v", tt.line, got, tt.relayed)
		}
	}
}

func TestSkimDecidesAsParseWhateverStampsItDefers(t *testing.T) {
	// skim defers the stamps of lines that cannot be bans and reads only
	// the last one when it names its instant alone: the repeated hour of
	// a fall-back, broken and missing stamps and syslog days must still
	// leave every ban and the Parser's last instant as Parse does.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	text.WriteString(berlinFallBack())
	// The repeated hour without a ban: the last stamp before a settle is
	// ambiguous, and only the lines before it say which pass it is in.
	text.WriteString(strings.ReplaceAll(berlinFallBack(), "] Ban ", "] Unban "))
	for i, l := range strings.Split(berlinFallBack(), "\n") {
		switch i % 7 {
		case 1:
			l = strings.Replace(l, "2026-10-25 ", "2026-10-32 ", 1) // invalid stamp
		case 3:
			l = l[min(len(l), 24):] // no stamp
		case 5:
			l += "\r"
		}
		text.WriteString(l + "\n")
	}
	// A syslog day whose year is inferred from a line that is no ban:
	// alone, Jan 2 00:00:50 would be last year (the clock is Jan 1
	// 00:00:30), but its day's first line, 00:00:10, is this year.
	text.WriteString("Jan  2 00:00:10 vm fail2ban.filter[9723]: INFO [sshd] Found 198.51.100.9 - 2027-01-02 00:00:09\n" +
		"Jan  2 00:00:50 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.9\n")
	text.WriteString(awkwardLines())
	lines := strings.Split(text.String(), "\n")
	now := func() time.Time { return time.Date(2027, 1, 1, 0, 0, 30, 0, berlin) }
	for _, every := range []int{1, 2, 7, 100, 1000} {
		t.Run(fmt.Sprintf("settled_every_%d_lines", every), func(t *testing.T) {
			eager := NewParser(ParserConfig{Location: berlin, Now: now})
			skimmer := NewParser(ParserConfig{Location: berlin, Now: now})
			bans := 0
			for i, l := range lines {
				wb, wv := eager.Parse([]byte(l))
				var gb Ban
				var gv Verdict
				if plainASCII([]byte(l)) && len(l) <= MaxLineLength {
					gb, gv = skimmer.skim([]byte(l))
				} else {
					gb, gv = skimmer.Parse([]byte(l))
				}
				if wv != gv || wb != gb {
					t.Fatalf("line %d %q: skim gave %v %+v, Parse %v %+v", i, l, gv, gb, wv, wb)
				}
				if wv == Countable {
					bans++
				}
				if i%every == every-1 {
					skimmer.settle()
					if skimmer.lastSec != eager.lastSec || skimmer.haveLast != eager.haveLast {
						t.Fatalf("after line %d: last instant %d (%v), want %d (%v)", i, skimmer.lastSec, skimmer.haveLast, eager.lastSec, eager.haveLast)
					}
				}
			}
			if bans < 50 || !reflect.DeepEqual(skimmer.Skipped(), eager.Skipped()) {
				t.Fatalf("%d bans, skipped %v, want many bans and the skips of Parse %v", bans, skimmer.Skipped(), eager.Skipped())
			}
		})
	}
}

func TestSkimPlacesADeferredStampInTheRepeatedHourByTheLinesBeforeIt(t *testing.T) {
	// A ban at 01:50 CEST, then only Found lines, every 10 s, through the
	// first 02:xx (CEST) and into the second (CET) up to 02:30: the last
	// stamp alone would be read as its first occurrence against the ban's
	// instant; the lines before it say it is the second.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"2026-10-25 01:50:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5"}
	found := func(clock string) {
		lines = append(lines, "2026-10-25 "+clock+",000 fail2ban.filter         [9091]: INFO    [sshd] Found 192.0.2.5 - 2026-10-25 01:00:00")
	}
	for s := 1*3600 + 50*60 + 10; s < 3*3600; s += 10 {
		found(fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60))
	}
	for s := 2 * 3600; s <= 2*3600+30*60; s += 10 {
		found(fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60))
	}
	eager := NewParser(ParserConfig{Location: berlin})
	skimmer := NewParser(ParserConfig{Location: berlin})
	for _, l := range lines {
		eager.Parse([]byte(l))
		skimmer.skim([]byte(l))
	}
	skimmer.settle()
	want := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC).Unix() // 02:30 CET
	if eager.lastSec != want {
		t.Fatalf("Parse ends at %v, want %v: the test is wrong", time.Unix(eager.lastSec, 0).UTC(), time.Unix(want, 0).UTC())
	}
	if skimmer.lastSec != want {
		t.Fatalf("skim ends at %v, want %v (02:30 CET)", time.Unix(skimmer.lastSec, 0).UTC(), time.Unix(want, 0).UTC())
	}
}

func TestLastSpaceFindsWhatLastIndexByteFinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte{' ', '!', 'a', 0x20 ^ 0x80, 0, 0xff, '\t', '@'}
	for range 100_000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := lastSpace(b), bytes.LastIndexByte(b, ' '); got != want {
			t.Fatalf("lastSpace(%q) = %d, want %d", b, got, want)
		}
	}
}
