package config_test

import (
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
)

func TestParseRate_reads_count_per_period_and_0_as_no_limit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		count int
		per   time.Duration
		ok    bool
	}{
		{"20/h", 20, time.Hour, true},
		{"5/m", 5, time.Minute, true},
		{"100/d", 100, 24 * time.Hour, true},
		{"10/30m", 10, 30 * time.Minute, true},
		{"0", 0, 0, true},
		{"", 0, 0, true},
		{"20", 0, 0, false},
		{"0/h", 0, 0, false},
		{"-1/h", 0, 0, false},
		{"20/fortnight", 0, 0, false},
		{"20/0s", 0, 0, false},
	} {
		count, per, err := config.ParseRate(tc.in)
		if (err == nil) != tc.ok || count != tc.count || per != tc.per {
			t.Errorf("ParseRate(%q) = %d, %v, %v; want %d, %v, ok=%v", tc.in, count, per, err, tc.count, tc.per, tc.ok)
		}
	}
}
