package watcher

import (
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, even on a host without /usr/share/zoneinfo
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("loading zone %s: %v", name, err)
	}
	return loc
}

// banAt is a fail2ban file-target ban line stamped with the wall clock w.
func banAt(w string) []byte {
	return []byte(w + " fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.1")
}

// foundAt is a non-ban line stamped with the wall clock w.
func foundAt(w string) []byte {
	return []byte(w + " fail2ban.filter         [1]: INFO    [sshd] Found 192.0.2.1 - 2026-10-25 01:00:00")
}

func TestTimestamp_a_chronological_log_keeps_exact_times_across_every_dst_change(t *testing.T) {
	// A line every 7 minutes for two years: every wall time of every fold is
	// hit, and each must map back to the instant that wrote it.
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "UTC"} {
		t.Run(zone, func(t *testing.T) {
			loc := mustZone(t, zone)
			p := NewParser(ParserConfig{Location: loc})
			start := time.Date(2025, 1, 1, 0, 3, 0, 0, time.UTC)
			for ts := start; ts.Before(start.AddDate(2, 0, 0)); ts = ts.Add(7 * time.Minute) {
				line := banAt(ts.In(loc).Format("2006-01-02 15:04:05,000"))
				b, v := p.Parse(line)
				if v != Countable || !b.Time.Equal(ts) {
					t.Fatalf("Parse(%q) = %v at %v, want %v", line, v, b.Time.UTC(), ts)
				}
			}
		})
	}
}

func TestTimestamp_dst_fall_back_is_resolved_against_the_previous_line(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	utc := func(h, m, s int) time.Time { return time.Date(2026, 10, 25, h, m, s, 0, time.UTC) }
	tests := []struct {
		name  string
		lines [][]byte // the last one is a ban line
		want  time.Time
	}{
		{"first_occurrence_without_history", [][]byte{banAt("2026-10-25 02:30:00,000")}, utc(0, 30, 0)},
		{"first_occurrence_after_a_line_before_the_fold", [][]byte{foundAt("2026-10-25 01:59:00,000"), banAt("2026-10-25 02:30:00,000")}, utc(0, 30, 0)},
		{"second_occurrence_after_the_clocks_went_back", [][]byte{foundAt("2026-10-25 02:59:59,000"), banAt("2026-10-25 02:00:01,000")}, utc(1, 0, 1)},
		{"second_occurrence_seen_through_non_ban_lines", [][]byte{banAt("2026-10-25 01:50:00,000"), foundAt("2026-10-25 02:40:00,000"), foundAt("2026-10-25 02:10:00,000"), banAt("2026-10-25 02:20:00,000")}, utc(1, 20, 0)},
		{"slightly_out_of_order_line_stays_in_the_first_pass", [][]byte{foundAt("2026-10-25 02:59:59,000"), banAt("2026-10-25 02:59:58,000")}, utc(0, 59, 58)},
		{"after_the_fold", [][]byte{foundAt("2026-10-25 02:59:59,000"), banAt("2026-10-25 03:00:00,000")}, utc(2, 0, 0)},
		{"syslog_line_inside_the_second_pass", [][]byte{foundAt("2026-10-25 02:59:59,000"), foundAt("2026-10-25 02:15:00,000"), []byte("2026-10-25T02:16:00 host fail2ban[1]: [sshd] Ban 192.0.2.1")}, utc(1, 16, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(ParserConfig{Location: berlin})
			var b Ban
			var v Verdict
			for _, l := range tt.lines {
				b, v = p.Parse(l)
			}
			if v != Countable || !b.Time.Equal(tt.want) {
				t.Errorf("last line = %v at %v, want %v", v, b.Time.UTC(), tt.want)
			}
		})
	}
}

func TestTimestamp_a_wall_time_skipped_by_spring_forward_still_counts(t *testing.T) {
	p := NewParser(ParserConfig{Location: mustZone(t, "Europe/Berlin")})
	b, v := p.Parse(banAt("2026-03-29 02:30:00,000"))
	// Go normalises the missing 02:30 CET to 03:30 CEST.
	if want := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC); v != Countable || !b.Time.Equal(want) {
		t.Errorf("got %v at %v, want Countable at %v", v, b.Time.UTC(), want)
	}
}

func TestTimestamp_zone_less_stamps_use_the_configured_location_and_offsets_win(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	now := func() time.Time { return time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		line string
		want time.Time
	}{
		{"fail2ban_stamp_in_log_timezone", "2026-11-24 10:00:00,250 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 15, 0, 0, 250e6, time.UTC)},
		{"traditional_stamp_in_log_timezone", "Nov 24 10:00:00 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)},
		{"iso_stamp_without_offset_in_log_timezone", "2026-11-24T10:00:00 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)},
		{"iso_offset_overrides_log_timezone", "2026-11-24T10:00:00+01:00 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)},
		{"negative_offset_with_minutes", "2026-11-24T10:00:00-03:30 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC)},
		{"offset_hours_only", "2026-11-24T10:00:00+02 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
		{"nanoseconds_beyond_nine_digits_are_dropped", "2026-11-24T10:00:00.1234567891Z vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)},
		{"comma_fraction_in_iso_stamp", "2026-11-24T10:00:00,5Z vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 10, 0, 0, 5e8, time.UTC)},
		{"stamp_without_fraction", "2026-11-24 10:00:00 fail2ban.actions        [1]: NOTICE  [sshd] Ban 192.0.2.1", time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(ParserConfig{Location: ny, Now: now})
			b, v := p.Parse([]byte(tt.line))
			if v != Countable || !b.Time.Equal(tt.want) {
				t.Errorf("Parse(%q) = %v at %v, want %v", tt.line, v, b.Time.UTC(), tt.want)
			}
		})
	}
}

func TestTimestamp_year_of_traditional_syslog_stamps_never_lies_in_the_future(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	tests := []struct {
		name  string
		now   time.Time
		stamp string
		want  time.Time
	}{
		{"same_day", utc(2026, 11, 24, 16, 0, 0), "Nov 24 15:53:23", utc(2026, 11, 24, 15, 53, 23)},
		{"december_read_on_new_years_day", utc(2027, 1, 1, 0, 0, 5), "Dec 31 23:59:59", utc(2026, 12, 31, 23, 59, 59)},
		{"new_years_day_read_on_new_years_day", utc(2027, 1, 1, 0, 0, 5), "Jan  1 00:00:03", utc(2027, 1, 1, 0, 0, 3)},
		{"a_day_ahead_is_tolerated", utc(2026, 11, 24, 16, 0, 0), "Nov 25 10:00:00", utc(2026, 11, 25, 10, 0, 0)},
		{"more_than_a_day_ahead_is_last_year", utc(2026, 11, 24, 16, 0, 0), "Nov 26 10:00:00", utc(2025, 11, 26, 10, 0, 0)},
		{"next_january_from_a_clock_late_on_new_years_eve", utc(2026, 12, 31, 23, 30, 0), "Jan  1 00:10:00", utc(2027, 1, 1, 0, 10, 0)},
		{"february_29_goes_back_to_a_leap_year", utc(2026, 3, 1, 12, 0, 0), "Feb 29 12:00:00", utc(2024, 2, 29, 12, 0, 0)},
		{"february_29_in_a_leap_year", utc(2028, 2, 29, 12, 0, 0), "Feb 29 11:00:00", utc(2028, 2, 29, 11, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(ParserConfig{Location: time.UTC, Now: func() time.Time { return tt.now }})
			line := tt.stamp + " vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1"
			b, v := p.Parse([]byte(line))
			if v != Countable || !b.Time.Equal(tt.want) {
				t.Errorf("Parse(%q) at %v = %v at %v, want %v", line, tt.now, v, b.Time, tt.want)
			}
		})
	}
}

func TestTimestamp_a_live_follower_crosses_new_year_with_the_right_years(t *testing.T) {
	now := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	p := NewParser(ParserConfig{Location: time.UTC, Now: func() time.Time { return now }})
	steps := []struct {
		now   time.Time
		stamp string
		want  int
	}{
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "Dec 31 23:59:58", 2026},
		{time.Date(2027, 1, 1, 0, 0, 2, 0, time.UTC), "Jan  1 00:00:01", 2027},
		{time.Date(2027, 1, 1, 0, 0, 3, 0, time.UTC), "Jan  1 00:00:02", 2027},
	}
	for _, s := range steps {
		now = s.now
		b, v := p.Parse([]byte(fmt.Sprintf("%s vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1", s.stamp)))
		if v != Countable || b.Time.Year() != s.want {
			t.Errorf("%s read at %v: %v in %d, want %d", s.stamp, s.now, v, b.Time.Year(), s.want)
		}
	}
}

func TestTimestamp_zero_config_reads_local_time_and_the_real_clock(t *testing.T) {
	p := NewParser(ParserConfig{})
	b, v := p.Parse(banAt("2026-11-24 10:00:00,000"))
	if want := time.Date(2026, 11, 24, 10, 0, 0, 0, time.Local); v != Countable || !b.Time.Equal(want) {
		t.Errorf("native stamp without Location = %v at %v, want %v", v, b.Time, want)
	}
	// A year-less stamp of today must land in this year or, just after new
	// year, in the last one: never in the future.
	now := time.Now()
	b, v = p.Parse([]byte(now.Format(time.Stamp) + " vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.1"))
	if v != Countable || b.Time.After(now.Add(time.Second)) || b.Time.Before(now.Add(-2*time.Second)) {
		t.Errorf("traditional stamp of now without Now = %v at %v, want about %v", v, b.Time, now)
	}
}
