package config_test

import (
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
	year = 365*day + 6*time.Hour // fail2ban's: (365*3+366)/4 days
)

func TestParseDurationReadsFail2banDurations(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"a_plain_number_is_seconds", "600", 10 * time.Minute},
		{"zero_is_zero", "0", 0},
		{"seconds", "90s", 90 * time.Second},
		{"minutes", "10m", 10 * time.Minute},
		{"hours_and_minutes_combine", "1h30m", 90 * time.Minute},
		{"weeks_and_days_combine", "1w2d", 9 * day},
		{"a_year_is_fail2bans_365_and_a_quarter_days", "1y", 31557600 * time.Second},
		{"a_month_is_fail2bans_twelfth_of_a_year", "1mo", 2629800 * time.Second},
		{"twelve_months_are_a_year", "12months", year},
		{"a_fraction_as_fail2ban_evaluates_it", "1.5h", 90 * time.Minute},
		{"a_fraction_of_a_day_in_a_combination", "1d0.25d", day + 6*time.Hour},
		{"fail2bans_long_unit_words", "2 weeks 1 day 3 hours 4 minutes 5 seconds", 2*week + day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"fail2bans_doubled_unit_letters", "1yy2ww3dd4hh5mm6ss", year + 2*week + 3*day + 4*time.Hour + 5*time.Minute + 6*time.Second},
		{"every_unit_at_once", "1y1w1d1h1m1s", year + week + day + time.Hour + time.Minute + time.Second},
		{"units_in_any_order_add_up", "30m1h", 90 * time.Minute},
		{"spaces_between_parts_are_ignored", " 1d 12h ", day + 12*time.Hour},
		{"upper_case_units_are_read", "2W", 2 * week},
		{"long_unit_names_min_and_sec", "5min30sec", 5*time.Minute + 30*time.Second},
		{"milliseconds", "1500ms", 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDurationRefusesWhatIsNotADuration(t *testing.T) {
	tests := []struct{ name, in string }{
		{"an_empty_string", ""},
		{"only_spaces", "   "},
		{"a_word", "soon"},
		{"an_unknown_unit", "10x"},
		{"a_point_without_digits_after_it", "1.h"},
		{"two_points", "1.2.3h"},
		{"a_unit_without_a_number", "m"},
		{"a_number_after_the_unit_first", "m10"},
		{"a_negative_duration", "-5m"},
		{"a_fraction_without_a_unit_after_a_unit", "1h0.5"},
		{"go_syntax_with_a_micro_sign", "10µs"},
		{"more_seconds_than_a_duration_holds", "9223372037"},
		{"more_years_than_a_duration_holds", "300y"},
		{"a_sum_larger_than_a_duration_holds", "200y200y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := config.ParseDuration(tt.in); err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, d)
			}
		})
	}
}

func TestFormatDurationWritesTheLargestUnits(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{"zero", 0, "0"},
		{"ninety_seconds_are_a_minute_and_a_half", 90 * time.Second, "1m30s"},
		{"nine_days_are_a_week_and_two_days", 9 * day, "1w2d"},
		{"a_week", week, "1w"},
		{"a_year_and_a_day", year + day, "1y1d"},
		{"an_hour_and_a_half", 90 * time.Minute, "1h30m"},
		{"milliseconds_are_kept", 1500 * time.Millisecond, "1s500ms"},
		{"a_month", 2629800 * time.Second, "1mo"},
		{"a_year_and_a_half", year + 6*2629800*time.Second, "1y6mo"},
		{"not_whole_months_in_weeks", 45 * day, "6w3d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.FormatDuration(tt.in); got != tt.want {
				t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatDurationRoundTripsThroughParseDuration(t *testing.T) {
	for _, d := range []time.Duration{
		0, time.Second, 90 * time.Second, time.Hour, 36 * time.Hour, week, 9 * day,
		year, 2*year + 3*week + 4*day + 5*time.Hour + 6*time.Minute + 7*time.Second,
		1500 * time.Millisecond, 292 * year,
	} {
		s := config.FormatDuration(d)
		got, err := config.ParseDuration(s)
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, s, got, err)
		}
	}
}

func TestFractionsRoundToTheMillisecondAndRoundTrip(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0.0000001s": 0, "0.5ms": time.Millisecond, "1.0000001h": time.Hour, "0.001s": time.Millisecond,
	} {
		d, err := config.ParseDuration(in)
		if err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
		if back, err := config.ParseDuration(config.FormatDuration(d)); err != nil || back != d {
			t.Errorf("%q: formatted %q parses back to %v, %v", in, config.FormatDuration(d), back, err)
		}
	}
}

func FuzzParseDurationRoundTrip(f *testing.F) {
	for _, s := range []string{"600", "90s", "10m", "1h30m", "1w2d", "1y", "1500ms", "5min30sec", " 1d 12h ", "0", "1.5h", "0.0000001s", "1mo", "2 weeks"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := config.ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, a negative duration", s, d)
		}
		out := config.FormatDuration(d)
		back, err := config.ParseDuration(out)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, formatted %q, parsed back %v, %v", s, d, out, back, err)
		}
	})
}
