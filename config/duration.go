package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute,
	"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	"ms": time.Millisecond,
}

// ParseDuration reads a duration the way fail2ban writes them: a plain number
// of seconds ("600"), or numbers with units s m h d w y in any combination
// ("1w2d", "1h30m", "90s"). A year is 365 days.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseUint(in, 10, 63); err == nil {
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	rest := strings.ReplaceAll(in, " ", "")
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit, ok := units[strings.ToLower(rest[:j])]
		if !ok {
			return 0, fmt.Errorf("duration %q: unknown unit %q (use s m h d w y)", s, rest[:j])
		}
		rest = rest[j:]
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// FormatDuration writes d in the largest units that divide it ("1w2d", "90s").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	for _, u := range []struct {
		s string
		d time.Duration
	}{{"y", units["y"]}, {"w", units["w"]}, {"d", units["d"]}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dms", d/time.Millisecond)
	}
	return b.String()
}
