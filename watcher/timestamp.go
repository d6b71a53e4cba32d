package watcher

import (
	"bytes"
	"math"
	"time"
)

// stamp is the leading timestamp of a line, read digit by digit: a civil
// (wall-clock) time plus, for RFC 3339 stamps, the UTC offset written in it.
// year is 0 for traditional syslog stamps, which carry none.
type stamp struct {
	year, month, day  int
	hour, min, sec    int
	nsec              int
	offset            int // seconds east of UTC, when hasOffset
	hasOffset, noYear bool
}

// stampShape tells whether a line starts with something shaped like a
// timestamp and, if so, whether its fields made sense.
type stampShape uint8

const (
	shapeNone    stampShape = iota // no timestamp: a continuation or journal-short line
	shapeValid                     // a timestamp that parsed
	shapeInvalid                   // looks like a timestamp, but a field is out of range
)

// parseStamp reads the timestamp a line starts with into st, which must be
// zero, and returns the number of bytes it took; st is only meaningful for
// shapeValid. (A pointer, because copying the struct in and out of every
// call was a tenth of the parser's time.) Accepted, each followed by a space:
//
//	2026-11-24 15:51:53,831            fail2ban's own format (all versions)
//	2026-11-24T15:53:23.380751+00:00   RFC 3339 / ISO 8601 (rsyslog's FileFormat);
//	                                   fraction (. or ,) and zone (Z, +hh:mm, +hhmm, +hh) optional
//	Nov 24 15:53:23, Nov  4 …, Mar 05 … traditional syslog, no year
//
// It is hand-written, digit by digit, because it runs on every line of the
// log: it must stay a small share of the parser's time and never allocate.
func parseStamp(b []byte, st *stamp) (n int, shape stampShape) {
	switch {
	case len(b) >= 20 && b[4] == '-' && b[7] == '-' && (b[10] == ' ' || b[10] == 'T') && b[13] == ':' && b[16] == ':':
		return parseISOStamp(b, st)
	case len(b) >= 16 && b[3] == ' ' && b[6] == ' ' && b[9] == ':' && b[12] == ':':
		return parseSyslogStamp(b, st)
	}
	return 0, shapeNone
}

// parseISOStamp reads "YYYY-MM-DD[ T]hh:mm:ss[.frac][zone] "; the caller
// checked the punctuation up to the seconds.
func parseISOStamp(b []byte, st *stamp) (n int, shape stampShape) {
	y1, ok1 := d2(b[0], b[1])
	y2, ok2 := d2(b[2], b[3])
	mo, ok3 := d2(b[5], b[6])
	d, ok4 := d2(b[8], b[9])
	h, ok5 := d2(b[11], b[12])
	mi, ok6 := d2(b[14], b[15])
	sec, ok7 := d2(b[17], b[18])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, shapeNone
	}
	st.year, st.month, st.day, st.hour, st.min, st.sec = y1*100+y2, mo, d, h, mi, sec
	i := 19
	if b[i] == '.' || b[i] == ',' {
		i++
		start := i
		frac, digits := 0, 0
		for i < len(b) && isDigit(b[i]) {
			if digits < 9 { // finer than a nanosecond is dropped
				frac = frac*10 + int(b[i]-'0')
				digits++
			}
			i++
		}
		if i == start {
			return 0, shapeNone
		}
		st.nsec = frac * pow10[9-digits] // a multiplication: this runs on every line
	}
	if i < len(b) {
		switch b[i] {
		case 'Z':
			st.hasOffset = true
			i++
		case '+', '-':
			off, m, good := parseOffset(b[i:])
			if !good {
				// Still a timestamp, with a broken zone: report it as such.
				if sp := bytes.IndexByte(b[i:], ' '); sp > 0 {
					return i + sp, shapeInvalid
				}
				return 0, shapeNone
			}
			st.offset, st.hasOffset = off, true
			i += m
		}
	}
	if i >= len(b) || b[i] != ' ' {
		return 0, shapeNone
	}
	if !validClock(st) || st.year < minStampYear || st.month < 1 || st.month > 12 || st.day < 1 || st.day > daysIn(st.month, st.year) {
		return i, shapeInvalid
	}
	return i, shapeValid
}

// pow10[n] is 10 to the n, for scaling a fraction of n digits fewer than 9
// to nanoseconds.
var pow10 = [10]int{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// minStampYear rejects dates before the Unix epoch: fail2ban did not exist,
// so such a stamp is corruption, and year 1 would even be Go's zero Time.
const minStampYear = 1970

// parseOffset reads "+hh:mm", "+hhmm" or "+hh" and returns the offset in
// seconds and the bytes it took.
func parseOffset(b []byte) (off, n int, ok bool) {
	if len(b) < 3 {
		return 0, 0, false
	}
	h, okh := d2(b[1], b[2])
	m, n := 0, 3
	switch {
	case len(b) >= 6 && b[3] == ':':
		var okm bool
		if m, okm = d2(b[4], b[5]); !okm {
			return 0, 0, false
		}
		n = 6
	case len(b) >= 5 && isDigit(b[3]):
		var okm bool
		if m, okm = d2(b[3], b[4]); !okm {
			return 0, 0, false
		}
		n = 5
	}
	if !okh || h > 23 || m > 59 {
		return 0, 0, false
	}
	off = h*3600 + m*60
	if b[0] == '-' {
		off = -off
	}
	return off, n, true
}

// parseSyslogStamp reads "Mmm dd hh:mm:ss " (day space- or zero-padded); the
// caller checked the punctuation.
func parseSyslogStamp(b []byte, st *stamp) (n int, shape stampShape) {
	st.month = monthOf(b[0:3])
	if st.month == 0 || b[15] != ' ' {
		return 0, shapeNone
	}
	var day int
	var okd bool
	if b[4] == ' ' {
		day, okd = d2('0', b[5])
	} else {
		day, okd = d2(b[4], b[5])
	}
	h, ok1 := d2(b[7], b[8])
	mi, ok2 := d2(b[10], b[11])
	sec, ok3 := d2(b[13], b[14])
	if !(okd && ok1 && ok2 && ok3) {
		return 0, shapeNone
	}
	st.day, st.hour, st.min, st.sec = day, h, mi, sec
	st.noYear = true
	// Feb 29 is checked against the inferred year later.
	if !validClock(st) || st.day < 1 || st.day > daysIn(st.month, 2000) {
		return 15, shapeInvalid
	}
	return 15, shapeValid
}

// monthOf returns 1–12 for an English month abbreviation, else 0.
func monthOf(b []byte) int {
	const names = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for m := 0; m < 12; m++ {
		if b[0] == names[3*m] && b[1] == names[3*m+1] && b[2] == names[3*m+2] {
			return m + 1
		}
	}
	return 0
}

func validClock(st *stamp) bool {
	// 60 seconds: a leap second; it counts as the first second of the next minute.
	return st.hour <= 23 && st.min <= 59 && st.sec <= 60
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// d2 parses two ASCII digits.
func d2(a, b byte) (int, bool) {
	x, y := a-'0', b-'0' // bytes: anything below '0' wraps above 9
	return int(x)*10 + int(y), x <= 9 && y <= 9
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// civilSeconds counts the seconds from 1970-01-01 00:00:00 to the wall-clock
// time of st as if it were UTC (Howard Hinnant's days_from_civil).
func civilSeconds(st *stamp) int64 {
	y, m := int64(st.year), int64(st.month)
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(st.day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(st.hour)*3600 + int64(st.min)*60 + int64(st.sec)
}

// yearSlack is how far in the future a year-less syslog date may lie before
// it is taken to be from last year: a day covers clocks that are slightly
// off and logs written in a zone ahead of ours.
const yearSlack = 24 * time.Hour

// yearCache remembers the year inferred for the last month and day seen, so
// that the clock is read once a day of log, not once a line.
type yearCache struct {
	month, day, year int
}

// inferYear picks the latest year in which month/day at the given clock does
// not lie more than yearSlack after now: a traditional syslog date never lies
// in the future. The year is cached per month and day.
func (c *yearCache) inferYear(st *stamp, now func() time.Time, loc *time.Location) int {
	if c.year != 0 && c.month == st.month && c.day == st.day {
		return c.year
	}
	t := now()
	limit := t.Add(yearSlack)
	y := t.In(loc).Year() + 1
	for ; y > t.Year()-8; y-- {
		if st.day > daysIn(st.month, y) {
			continue // Feb 29 outside a leap year
		}
		cand := time.Date(y, time.Month(st.month), st.day, st.hour, st.min, st.sec, 0, loc)
		if !cand.After(limit) {
			break
		}
	}
	c.month, c.day, c.year = st.month, st.day, y
	return y
}

// foldSlack is how far a line may go back in time behind the previous line
// (fail2ban's threads do not log in strict order) before a wall time that a
// DST fall-back made ambiguous is taken to be its second occurrence.
const foldSlack = time.Minute

// zoneCache converts wall-clock times of one Location to instants. It keeps
// the civil-time range [lo, hi) in which the Location's offset is off and
// unambiguous, so that almost every line costs two comparisons; lines around
// a transition take the slow path through time.Date.
type zoneCache struct {
	loc    *time.Location
	lo, hi int64 // civil seconds, see civilSeconds
	off    int64
	valid  bool
}

// unix returns the instant (Unix seconds) of the civil time civil. prev is
// the instant of the previous timestamped line (havePrev false if none): when
// civil occurs twice because the clocks went back, the first occurrence is
// taken unless it lies clearly before prev, in which case the log has
// crossed the fall-back and the second one is right.
func (z *zoneCache) unix(civil int64, prev int64, havePrev bool) int64 {
	if z.valid && civil >= z.lo && civil < z.hi {
		return civil - z.off
	}
	return z.slow(civil, prev, havePrev)
}

func (z *zoneCache) slow(civil int64, prev int64, havePrev bool) int64 {
	w := time.Unix(civil, 0).UTC()
	g := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, z.loc)
	// The instants whose wall clock reads civil: try the offsets of g's zone
	// and of the zones either side of it.
	offs := [3]int64{z.offsetAt(g.Unix())}
	start, end := g.ZoneBounds()
	if !start.IsZero() {
		offs[1] = z.offsetAt(start.Unix() - 1)
	} else {
		offs[1] = offs[0]
	}
	if !end.IsZero() {
		offs[2] = z.offsetAt(end.Unix())
	} else {
		offs[2] = offs[0]
	}
	first, second := int64(math.MaxInt64), int64(math.MinInt64)
	for _, off := range offs {
		u := civil - off
		if z.offsetAt(u) != off {
			continue
		}
		first, second = min(first, u), max(second, u)
	}
	chosen := g.Unix() // a wall time skipped by a spring-forward: Go's normalisation
	if first != math.MaxInt64 {
		chosen = first
		if first != second && havePrev && first < prev-int64(foldSlack/time.Second) {
			chosen = second
		}
	}
	z.remember(chosen)
	return chosen
}

// remember caches the unambiguous civil range of the zone period holding
// the instant u.
func (z *zoneCache) remember(u int64) {
	t := time.Unix(u, 0).In(z.loc)
	_, o := t.Zone()
	off := int64(o)
	start, end := t.ZoneBounds()
	z.lo, z.hi, z.off, z.valid = math.MinInt64, math.MaxInt64, off, true
	if !start.IsZero() {
		z.lo = start.Unix() + max(off, z.offsetAt(start.Unix()-1))
	}
	if !end.IsZero() {
		z.hi = end.Unix() + min(off, z.offsetAt(end.Unix()))
	}
}

func (z *zoneCache) offsetAt(u int64) int64 {
	_, off := time.Unix(u, 0).In(z.loc).Zone()
	return int64(off)
}
