package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// year and month are fail2ban's: a year is 365.25 days, a month a twelfth
// of it (30.4375 days).
const (
	day   = 24 * time.Hour
	year  = 365*day + 6*time.Hour
	month = year / 12
)

// units are fail2ban's unit words (MyTime.str2seconds), any case, plus ms.
var units = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second, "ss": time.Second, "se": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "mm": time.Minute, "mi": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hh": time.Hour, "ho": time.Hour, "hou": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": day, "dd": day, "da": day, "day": day, "days": day,
	"w": 7 * day, "ww": 7 * day, "we": 7 * day, "wee": 7 * day, "week": 7 * day, "weeks": 7 * day,
	"mo": month, "mon": month, "month": month, "months": month,
	"y": year, "yy": year, "ye": year, "yea": year, "year": year, "years": year,
}

// ParseDuration reads a duration the way fail2ban does: a plain number of
// seconds ("600"), or numbers with units in any combination and any case
// ("1w2d", "1h30m", "90s", "1.5h", "2 weeks", "1mo"). The units are
// fail2ban's: s m h d w mo y and their long forms; a year is 365.25 days
// and a month a twelfth of that, as in fail2ban.
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
	tooLong := fmt.Errorf("duration %q is too long", s)
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
		whole, frac := rest[:i], ""
		rest = rest[i:]
		if strings.HasPrefix(rest, ".") {
			k := 1
			for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
				k++
			}
			if k == 1 {
				return 0, fmt.Errorf("duration %q: expected digits after the point in %q", s, whole+rest)
			}
			frac, rest = rest[1:k], rest[k:]
		}
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit, ok := units[strings.ToLower(rest[:j])]
		if !ok {
			return 0, fmt.Errorf("duration %q: unknown unit %q (use s m h d w mo y)", s, rest[:j])
		}
		rest = rest[j:]
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > int64(math.MaxInt64/unit) {
			return 0, tooLong
		}
		part := time.Duration(n) * unit
		if frac != "" {
			f, err := strconv.ParseFloat("0."+frac, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			// To the millisecond, the finest unit written back (FormatDuration).
			extra := time.Duration(math.Round(f*float64(unit)/float64(time.Millisecond))) * time.Millisecond
			if part > math.MaxInt64-extra {
				return 0, tooLong
			}
			part += extra
		}
		if total > math.MaxInt64-part {
			return 0, tooLong
		}
		total += part
	}
	return total, nil
}

// FormatDuration writes d in the largest units that divide it ("1w2d",
// "90s"). Months are used only for whole months ("1mo", "1y6mo"): 45 days
// read better as "6w3d" than in months and hours.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	for _, u := range []struct {
		s string
		d time.Duration
	}{{"y", year}, {"mo", month}, {"w", 7 * day}, {"d", day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if u.d == month && d%month != 0 {
			continue
		}
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
