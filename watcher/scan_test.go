package watcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// scanResult is everything a scan decides and counts.
type scanResult struct {
	offenders []Offender
	stats     Stats
}

// scanPolicy builds the Pipelines a test compares: the same zone, clock,
// filter and tracker policy.
type scanPolicy struct {
	loc       *time.Location
	now       time.Time
	threshold int
	window    time.Duration
}

func (sp scanPolicy) pipeline() *Pipeline {
	return NewPipeline(
		NewParser(ParserConfig{Location: sp.loc, Now: func() time.Time { return sp.now }}),
		NewFilter(nil, []string{"recidive"}, nil),
		NewTracker(sp.threshold, sp.window),
	)
}

// scanWith runs ScanFilesWith over paths and returns what it decided.
func scanWith(t *testing.T, sp scanPolicy, paths ...string) scanResult {
	t.Helper()
	p := sp.pipeline()
	var res scanResult
	if err := ScanFilesWith(context.Background(), paths, p, func(o Offender) { res.offenders = append(res.offenders, o) }, ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	res.stats = p.Stats()
	return res
}

// lineByLine is the reference scan: each file read whole (gunzipped when
// it is gzip), handed to EachLine one byte per read, so that every line
// crosses a read boundary, and every line through Pipeline.Line.
func lineByLine(t *testing.T, sp scanPolicy, paths ...string) scanResult {
	t.Helper()
	p := sp.pipeline()
	var res scanResult
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(data, gzipMagic) {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		err = EachLine(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), func(line []byte) {
			if o, ok := p.Line(line); ok {
				res.offenders = append(res.offenders, o)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res.stats = p.Stats()
	return res
}

// requireSame fails unless got equals want in every offender (order and
// fields) and every count of the Stats.
func requireSame(t *testing.T, what string, want, got scanResult) {
	t.Helper()
	if !reflect.DeepEqual(want.offenders, got.offenders) {
		t.Fatalf("%s: offenders differ\nwant: %v\ngot:  %v", what, want.offenders, got.offenders)
	}
	if !reflect.DeepEqual(want.stats, got.stats) {
		t.Fatalf("%s: stats differ\nwant: %+v\ngot:  %+v", what, want.stats, got.stats)
	}
}

func writeLog(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScanDecidesAsLineByLineOnTheCorpus(t *testing.T) {
	for _, path := range corpusLogs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, threshold := range []int{2, 3} {
				sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: threshold, window: 7 * 24 * time.Hour}
				want := lineByLine(t, sp, path)
				if want.stats.Bans == 0 {
					t.Fatalf("no ban counted in %s: the comparison would prove nothing", path)
				}
				requireSame(t, fmt.Sprint("threshold ", threshold), want, scanWith(t, sp, path))
			}
		})
	}
}

func TestScanDecidesAsLineByLineOnAllCorpusFilesInOneScan(t *testing.T) {
	logs := corpusLogs(t)
	sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: 3, window: 7 * 24 * time.Hour}
	requireSame(t, "all corpus files", lineByLine(t, sp, logs...), scanWith(t, sp, logs...))
}

// berlinFallBack writes lines every 10 s of local time from 01:30 to 03:30
// on 2026-10-25, when Europe/Berlin's clocks go back from 03:00 CEST to
// 02:00 CET: the wall times 02:00–02:59:50 appear twice. Bans in the
// repeated hour only decide right when each is placed in the right pass.
func berlinFallBack() string {
	var b strings.Builder
	line := func(clock, msg string) {
		fmt.Fprintf(&b, "2026-10-25 %s,123 fail2ban.actions        [9091]: %s\n", clock, msg)
	}
	walk := func(fromH, fromM, toH, toM int, pass int) {
		for m := fromH*60 + fromM; m < toH*60+toM; m++ {
			for s := 0; s < 60; s += 10 {
				clock := fmt.Sprintf("%02d:%02d:%02d", m/60, m%60, s)
				switch {
				case pass == 1 && s == 0 && m%20 == 10: // 02:10, 02:30, 02:50 CEST (and 01:50)
					line(clock, "NOTICE  [sshd] Ban 192.0.2.10")
				case pass == 2 && s == 0 && m%20 == 5: // 02:05, 02:25, 02:45 CET
					line(clock, "NOTICE  [sshd] Ban 192.0.2.10")
					fmt.Fprintf(&b, "2026-10-25T%s.123 vm fail2ban[15699]: [postfix-sasl] Ban 192.0.2.11\n", clock)
				case s == 30 && m%7 == 0:
					line(clock, "NOTICE  [nginx-http-auth] Ban 2001:db8::bad:1")
				case s == 20:
					line(clock, "NOTICE  [sshd] Unban 192.0.2.10")
				default:
					line(clock, "INFO    [sshd] Found 192.0.2.10 - 2026-10-25 01:00:00")
				}
			}
		}
	}
	walk(1, 30, 3, 0, 1) // up to 02:59:50 CEST
	walk(2, 0, 3, 30, 2) // 02:00 CET again, on to 03:30 CET
	return b.String()
}

func TestScanPlacesTheRepeatedHourOfTheBerlinFallBack(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	path := writeLog(t, "fail2ban.log", berlinFallBack())
	for _, window := range []time.Duration{30 * time.Minute, time.Hour} {
		sp := scanPolicy{loc: berlin, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), threshold: 3, window: window}
		got := scanWith(t, sp, path)
		if got.stats.Bans < 30 || len(got.offenders) == 0 {
			t.Fatalf("window %v: scan found %d bans, %d offenders: the log does not exercise the decision", window, got.stats.Bans, len(got.offenders))
		}
		// Bans of 192.0.2.10 are 20 minutes apart in real time (35 across
		// the fall-back), so a 30-minute window never catches three of
		// them, while reading 02:05 CET as 02:05 CEST would; the
		// syslog-stamped bans of 192.0.2.11 count at 02:05, 02:25 and
		// 02:45 CET.
		var first11 time.Time
		for _, o := range got.offenders {
			if o.Addr == netip.MustParseAddr("192.0.2.10") && window <= 30*time.Minute {
				t.Fatalf("window %v: 192.0.2.10 became an offender %v: the fall-back hour was misread", window, o)
			}
			if o.Addr == netip.MustParseAddr("192.0.2.11") && first11.IsZero() {
				first11 = o.First
			}
		}
		if window == time.Hour && !first11.Equal(time.Date(2026, 10, 25, 1, 5, 0, 123e6, time.UTC)) {
			t.Fatalf("window 1h: first offence of 192.0.2.11 starts at %v, want 01:05:00.123 UTC (02:05 CET)", first11)
		}
		requireSame(t, fmt.Sprint("window ", window), lineByLine(t, sp, path), got)
	}
}

// awkwardLines holds every line shape that touches the Parser's state or
// the line splitting: timestamp-less journal lines (first in the file too),
// a traditional-syslog year boundary and a day whose year is inferred from
// its first line, CRLF, too-long lines, NUL bytes, invalid and valid
// non-ASCII UTF-8, blank lines and a last line without newline.
func awkwardLines() string {
	var b strings.Builder
	b.WriteString("vm fail2ban[15699]: [postfix-sasl] Ban 192.0.2.3\n") // no timestamp yet: skipped
	syslog := func(stamp, msg string) {
		fmt.Fprintf(&b, "%s vm fail2ban.actions[9723]: %s\n", stamp, msg)
	}
	for s := 0; s < 60; s += 10 {
		syslog(fmt.Sprintf("Dec 31 23:59:%02d", s), "NOTICE [sshd] Ban 198.51.100.7")
		b.WriteString("vm fail2ban[15699]: [postfix-sasl] Ban 198.51.100.8\n")
	}
	for s := 0; s < 60; s += 10 {
		syslog(fmt.Sprintf("Jan  1 00:00:%02d", s), "NOTICE [sshd] Ban 198.51.100.7\r")
	}
	// The clock is Jan 1 00:00:30 (below): Jan 2 00:00:10 is within a day
	// and inferred this year; Jan 2 00:00:50 alone would be last year, but
	// the day's year is inferred once, from its first line.
	for _, stamp := range []string{"Jan  2 00:00:10", "Jan  2 00:00:50", "Jan  2 00:01:30", "Jan  2 00:02:10"} {
		syslog(stamp, "NOTICE [dovecot] Ban 198.51.100.9")
		b.WriteString("vm fail2ban[15699]: [postfix-sasl] Ban 198.51.100.9\n")
	}
	b.WriteString("\n\n")
	b.WriteString("2027-01-02T00:03:00.000001+01:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 2001:db8::1\r\n")
	b.WriteString("2027-01-02 00:03:10,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:db8::1\x00\n")
	b.WriteString("2027-01-02 00:03:20,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:db8::1 \xff\xfe\n")
	b.WriteString("2027-01-02 00:03:30,000 höst fail2ban.actions[9723]: NOTICE [sshd] Ban 2001:db8::1\n")
	// A crash-zeroed block cutting a line, and one at a line start: the
	// line written after each still counts.
	b.WriteString("2027-01-02 00:03:31,000 fail2ban.act" + strings.Repeat("\x00", 3000) + "2027-01-02 00:03:32,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:db8::1\n")
	b.WriteString(strings.Repeat("\x00", 5000) + "\n" + strings.Repeat("\x00", 700) + "2027-01-02 00:03:33,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:db8::1\n")
	b.WriteString("vm fail2ban[15699]: [sshd] Ban 2001:db8::1\n")
	long := strings.Repeat("x", MaxLineLength+10)
	b.WriteString("2027-01-02 00:04:00,000 " + long + " NOTICE  [sshd] Ban 192.0.2.77\n")
	b.WriteString("vm fail2ban[15699]: [sshd] Ban 192.0.2.77\n")
	exact := "2027-01-02 00:04:10,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.77"
	b.WriteString(exact + strings.Repeat(" ", MaxLineLength-len(exact)) + "\n")
	b.WriteString(strings.Repeat("y", 3*MaxLineLength) + "\n")
	b.WriteString("vm fail2ban[15699]: [sshd] Ban 192.0.2.77\n")
	b.WriteString("2027-01-02 00:05:00,000 fail2ban.actions        [9091]: NOTICE  [recidive] Ban 192.0.2.77\n")
	b.WriteString("2027-01-02 00:05:10,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 127.0.0.1\n")
	b.WriteString("2027-01-02 00:05:20,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 999.0.0.1\n")
	b.WriteString("2027-01-02 00:05:30,000 fail2ban.actions        [9091]: NOTICE  [s hd] Ban 192.0.2.1\n")
	b.WriteString("2027-13-02 00:05:40,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.1\n")
	b.WriteString("vm fail2ban[15699]: [sshd] Ban 192.0.2.77")
	return b.String()
}

func TestScanCountsAwkwardLinesAndInfersSyslogYears(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	path := writeLog(t, "fail2ban.log", awkwardLines())
	sp := scanPolicy{loc: berlin, now: time.Date(2027, 1, 1, 0, 0, 30, 0, berlin), threshold: 3, window: 24 * time.Hour}
	got := scanWith(t, sp, path)
	// The file must really hold what it claims, or the comparison is hollow.
	for _, r := range []SkipReason{TooLong, NULByte, InvalidUTF8, NoTimestamp, BadAddress, BadJail, BadTimestamp} {
		if got.stats.Skipped[r] == 0 {
			t.Errorf("scan skipped no line as %v: %v", r, got.stats.Skipped)
		}
	}
	if got.stats.Filtered != 2 || len(got.offenders) < 3 {
		t.Errorf("scan: %d filtered, %d offenders; the log does not exercise the decision", got.stats.Filtered, len(got.offenders))
	}
	// The syslog year: Dec 31 is 2026 and Jan 1 is 2027 (the clock is Jan
	// 1 00:00:30); Jan 2 00:00:10 lies within a day and is 2027, and the
	// rest of that day takes the year of its first line.
	years := map[string][]int{}
	for _, o := range got.offenders {
		years[o.Addr.String()] = append(years[o.Addr.String()], o.First.In(berlin).Year(), o.Last.In(berlin).Year())
	}
	if y := years["198.51.100.7"]; len(y) < 2 || y[0] != 2026 || y[len(y)-1] != 2027 {
		t.Errorf("198.51.100.7 first and last bans in years %v, want from 2026 to 2027", y)
	}
	if y := years["198.51.100.9"]; len(y) != 2 || y[0] != 2027 || y[1] != 2027 {
		t.Errorf("198.51.100.9 banned in years %v, want one offence in 2027", y)
	}
	if t.Failed() {
		t.FailNow()
	}
	requireSame(t, "awkward lines", lineByLine(t, sp, path), got)
}

func TestScanCarriesTheParserStateAcrossFiles(t *testing.T) {
	// The first file ends late in the first pass of Berlin's repeated hour;
	// the second starts early in it again: only the state carried over
	// from the first file places its bans in the second pass.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	first := writeLog(t, "fail2ban.log.1", "2026-10-25 02:40:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n"+
		"2026-10-25 02:59:59,000 fail2ban.filter         [9091]: INFO    [sshd] Found 192.0.2.5 - 2026-10-25 02:59:59\n")
	second := writeLog(t, "fail2ban.log", "2026-10-25 02:10:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n"+
		"2026-10-25 02:20:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n")
	sp := scanPolicy{loc: berlin, now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), threshold: 3, window: time.Hour}
	got := scanWith(t, sp, first, second)
	if len(got.offenders) != 1 || !got.offenders[0].Last.Equal(time.Date(2026, 10, 25, 1, 20, 0, 0, time.UTC)) {
		t.Fatalf("offenders %v, want 192.0.2.5 last banned at 01:20 UTC (02:20 CET)", got.offenders)
	}
}

func TestScanReadsGzipAsItsPlainText(t *testing.T) {
	plain := writeLog(t, "fail2ban.log.2", awkwardLines())
	gz := filepath.Join(t.TempDir(), "fail2ban.log.2.gz")
	gzipCopy(t, plain, gz)
	sp := scanPolicy{loc: time.UTC, now: time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC), threshold: 3, window: 24 * time.Hour}
	want := scanWith(t, sp, plain)
	if want.stats.Bans == 0 || len(want.offenders) == 0 {
		t.Fatalf("plain scan: %d bans, %d offenders; the comparison would prove nothing", want.stats.Bans, len(want.offenders))
	}
	requireSame(t, "gzip", want, scanWith(t, sp, gz))
}

func TestScanReadsALogBiggerThanItsReadBufferAsLineByLine(t *testing.T) {
	// Lines cut by the end of a read, and a few long and non-ASCII lines
	// among ordinary ones, over several reads.
	var b bytes.Buffer
	for i, l := range benchLines("syslog-traditional", 3*scanRead/100, time.UTC) {
		b.Write(l)
		switch i % 5000 {
		case 1:
			b.WriteString(" é")
		case 2:
			b.WriteString(strings.Repeat(" x", MaxLineLength))
		}
		b.WriteByte('\n')
	}
	path := writeLog(t, "fail2ban.log", b.String())
	sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: 3, window: 7 * 24 * time.Hour}
	got := scanWith(t, sp, path)
	if size := int64(b.Len()); size < 3*scanRead {
		t.Fatalf("the log is %d bytes, want several reads of %d", size, scanRead)
	}
	if got.stats.Bans == 0 || got.stats.Skipped[TooLong] == 0 {
		t.Fatalf("scan: %d bans, skipped %v; the log does not exercise the reads", got.stats.Bans, got.stats.Skipped)
	}
	requireSame(t, "several reads", lineByLine(t, sp, path), got)
}

func TestPlainASCIIRefusesNULAndNonASCII(t *testing.T) {
	base := strings.Repeat("2026-11-24 15:51:53,831 fail2ban.actions [9091]: NOTICE  [sshd] Ban 192.0.2.10\r\n", 3)
	for _, tc := range []struct {
		name string
		text string
		want bool
	}{
		{"ascii_lines_are_plain", base, true},
		{"empty_is_plain", "", true},
		{"a_nul_byte_anywhere_is_not_plain", base[:50] + "\x00" + base[50:], false},
		{"a_byte_above_127_in_the_word_loop_is_not_plain", base[:3] + "é" + base[3:], false},
		{"a_byte_above_127_in_the_tail_is_not_plain", base + "\x80", false},
		{"a_nul_byte_in_the_tail_is_not_plain", base + "\x00", false},
		{"a_nul_byte_at_every_place_of_a_word_is_not_plain", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text == "" && !tc.want {
				for i := range 48 {
					b := []byte(base[:48])
					b[i] = 0
					if plainASCII(b) {
						t.Fatalf("a NUL at %d passed as plain", i)
					}
				}
				return
			}
			if got := plainASCII([]byte(tc.text)); got != tc.want {
				t.Fatalf("plainASCII = %v, want %v", got, tc.want)
			}
		})
	}
}
