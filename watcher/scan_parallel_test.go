package watcher

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// scanResult is everything a scan decides and counts.
type scanResult struct {
	offenders []Offender
	stats     Stats
	state     parseState // the Parser's state after the last file
}

// scanPolicy builds the Pipelines both paths run: the same zone, clock,
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

// scanSequential is the reference: every file line by line through the
// Follower's splitting, as ScanFiles did before it went parallel.
func scanSequential(t *testing.T, sp scanPolicy, paths ...string) scanResult {
	t.Helper()
	p := sp.pipeline()
	var res scanResult
	for _, path := range paths {
		if err := scanFile(context.Background(), path, p, func(o Offender) { res.offenders = append(res.offenders, o) }, nil); err != nil {
			t.Fatal(err)
		}
	}
	res.stats, res.state = p.Stats(), p.parser.state()
	return res
}

// scanChunked scans the files in parallel with the given chunking.
func scanChunked(t *testing.T, sp scanPolicy, c chunking, paths ...string) scanResult {
	t.Helper()
	p := sp.pipeline()
	var res scanResult
	for _, path := range paths {
		if err := scanPath(context.Background(), path, p, func(o Offender) { res.offenders = append(res.offenders, o) }, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	res.stats, res.state = p.Stats(), p.parser.state()
	return res
}

// requireSame fails unless got equals want in every offender (order and
// fields), every count of the Stats and the Parser's final state.
func requireSame(t *testing.T, what string, want, got scanResult) {
	t.Helper()
	if !reflect.DeepEqual(want.offenders, got.offenders) {
		t.Fatalf("%s: offenders differ\nsequential: %v\nparallel:   %v", what, want.offenders, got.offenders)
	}
	if !reflect.DeepEqual(want.stats, got.stats) {
		t.Fatalf("%s: stats differ\nsequential: %+v\nparallel:   %+v", what, want.stats, got.stats)
	}
	if want.state != got.state {
		t.Fatalf("%s: parser state after the scan differs\nsequential: %+v\nparallel:   %+v", what, want.state, got.state)
	}
}

// chunkSizes is every size from 1 byte (each line its own chunk, so a
// boundary falls before every line) to 64, then sizes growing by an eighth
// up to past the whole file.
func chunkSizes(size int64) []int64 {
	var out []int64
	for c := int64(1); c <= size+1; {
		out = append(out, c)
		if c < 64 {
			c++
		} else {
			c += c / 8
		}
	}
	return out
}

// requireSameForEveryChunking compares the parallel scan of paths with the
// sequential one for every chunk size (skipping a size that splits the
// files exactly as the previous one did) and a few worker counts.
func requireSameForEveryChunking(t *testing.T, sp scanPolicy, paths ...string) {
	t.Helper()
	want := scanSequential(t, sp, paths...)
	var size int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		size = max(size, fi.Size())
	}
	var prev [][]int64
	for _, chunk := range chunkSizes(size) {
		bounds := allBounds(t, chunk, paths...)
		if reflect.DeepEqual(bounds, prev) {
			continue
		}
		prev = bounds
		for _, workers := range []int{1, 3} {
			c := chunking{minSize: 0, chunk: chunk, workers: workers, ahead: workers}
			got := scanChunked(t, sp, c, paths...)
			requireSame(t, fmt.Sprintf("chunk %d bytes, %d workers", chunk, workers), want, got)
		}
	}
}

// allBounds returns the chunk bounds of each file.
func allBounds(t *testing.T, chunk int64, paths ...string) [][]int64 {
	t.Helper()
	var out [][]int64
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		b, err := chunkBounds(context.Background(), f, fi.Size(), chunk)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func writeLog(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParallelScanMatchesSequentialOnTheCorpus(t *testing.T) {
	for _, path := range corpusLogs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, threshold := range []int{2, 3} {
				sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: threshold, window: 7 * 24 * time.Hour}
				want := scanSequential(t, sp, path)
				if want.stats.Bans == 0 {
					t.Fatalf("sequential scan counted no ban in %s: the comparison would prove nothing", path)
				}
				requireSameForEveryChunking(t, sp, path)
			}
		})
	}
}

func TestParallelScanMatchesSequentialOnAllCorpusFilesInOneScan(t *testing.T) {
	logs := corpusLogs(t)
	sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: 3, window: 7 * 24 * time.Hour}
	requireSameForEveryChunking(t, sp, logs...)
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

func TestParallelScanMatchesSequentialAcrossTheBerlinFallBack(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	path := writeLog(t, "fail2ban.log", berlinFallBack())
	for _, window := range []time.Duration{30 * time.Minute, time.Hour} {
		sp := scanPolicy{loc: berlin, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), threshold: 3, window: window}
		want := scanSequential(t, sp, path)
		if want.stats.Bans < 30 || len(want.offenders) == 0 {
			t.Fatalf("window %v: sequential scan found %d bans, %d offenders: the log does not exercise the decision", window, want.stats.Bans, len(want.offenders))
		}
		// The reference itself must place the repeated hour right: bans of
		// 192.0.2.10 are 20 minutes apart in real time (35 across the
		// fall-back), so a 30-minute window never catches three of them,
		// while reading 02:05 CET as 02:05 CEST would; the syslog-stamped
		// bans of 192.0.2.11 count at 02:05, 02:25 and 02:45 CET.
		var first11 time.Time
		for _, o := range want.offenders {
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
		t.Run(fmt.Sprint(window), func(t *testing.T) { requireSameForEveryChunking(t, sp, path) })
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

func TestParallelScanMatchesSequentialOnAwkwardLines(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	path := writeLog(t, "fail2ban.log", awkwardLines())
	sp := scanPolicy{loc: berlin, now: time.Date(2027, 1, 1, 0, 0, 30, 0, berlin), threshold: 3, window: 24 * time.Hour}
	want := scanSequential(t, sp, path)
	// The file must really hold what it claims, or the comparison is hollow.
	for _, r := range []SkipReason{TooLong, NULByte, InvalidUTF8, NoTimestamp, BadAddress, BadJail, BadTimestamp} {
		if want.stats.Skipped[r] == 0 {
			t.Errorf("sequential scan skipped no line as %v: %v", r, want.stats.Skipped)
		}
	}
	if want.stats.Filtered != 2 || len(want.offenders) < 3 {
		t.Errorf("sequential scan: %d filtered, %d offenders; the log does not exercise the decision", want.stats.Filtered, len(want.offenders))
	}
	if t.Failed() {
		t.FailNow()
	}
	requireSameForEveryChunking(t, sp, path)
}

func TestParallelScanCarriesTheParserStateAcrossFiles(t *testing.T) {
	// The first file ends late in the first pass of Berlin's repeated hour;
	// the second starts early in it again: only the state carried over
	// from the first file places its bans in the second pass, in both paths.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	first := writeLog(t, "fail2ban.log.1", "2026-10-25 02:40:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n"+
		"2026-10-25 02:59:59,000 fail2ban.filter         [9091]: INFO    [sshd] Found 192.0.2.5 - 2026-10-25 02:59:59\n")
	second := writeLog(t, "fail2ban.log", "2026-10-25 02:10:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n"+
		"2026-10-25 02:20:00,000 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.5\n")
	sp := scanPolicy{loc: berlin, now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), threshold: 3, window: time.Hour}
	want := scanSequential(t, sp, first, second)
	if len(want.offenders) != 1 || !want.offenders[0].Last.Equal(time.Date(2026, 10, 25, 1, 20, 0, 0, time.UTC)) {
		t.Fatalf("sequential scan: offenders %v, want 192.0.2.5 last banned at 01:20 UTC (02:20 CET)", want.offenders)
	}
	requireSameForEveryChunking(t, sp, first, second)
}

func TestParallelScanReadsGzipAndSmallFilesLineByLine(t *testing.T) {
	// A gzip log is never split: its bytes are not lines. scanPath must
	// hand it to the Follower's path even when chunking would apply.
	plain := writeLog(t, "fail2ban.log.2", awkwardLines())
	gz := filepath.Join(t.TempDir(), "fail2ban.log.2.gz")
	gzipCopy(t, plain, gz)
	sp := scanPolicy{loc: time.UTC, now: time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC), threshold: 3, window: 24 * time.Hour}
	want := scanSequential(t, sp, plain)
	got := scanChunked(t, sp, chunking{minSize: 0, chunk: 64, workers: 2, ahead: 2}, gz)
	requireSame(t, "gzip read whole", want, got)
	// A plain file below minSize is read line by line too: same result.
	got = scanChunked(t, sp, chunking{minSize: 1 << 30, chunk: 64, workers: 2, ahead: 2}, plain)
	requireSame(t, "small file read whole", want, got)
}

func TestChunkBoundsStartEveryChunkAfterANewline(t *testing.T) {
	content := "a\n\nbbbb\nccccccccccccccccccc\nd\nlast without newline"
	path := writeLog(t, "f", content)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for chunk := int64(1); chunk <= int64(len(content))+1; chunk++ {
		bounds, err := chunkBounds(context.Background(), f, int64(len(content)), chunk)
		if err != nil {
			t.Fatal(err)
		}
		if bounds[0] != 0 || bounds[len(bounds)-1] != int64(len(content)) {
			t.Fatalf("chunk %d: bounds %v do not span the file", chunk, bounds)
		}
		for i := 1; i < len(bounds)-1; i++ {
			if bounds[i] <= bounds[i-1] || content[bounds[i]-1] != '\n' {
				t.Fatalf("chunk %d: bound %d at %d does not follow a newline or does not advance: %v", chunk, i, bounds[i], bounds)
			}
		}
		if chunk == 1 && len(bounds) != strings.Count(content, "\n")+2 {
			t.Fatalf("1-byte chunks: bounds %v, want one chunk per line", bounds)
		}
	}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plainASCII([]byte(tc.text)); got != tc.want {
				t.Fatalf("plainASCII = %v, want %v", got, tc.want)
			}
		})
	}
}

// reparsedChunks scans path in chunks of one line each and returns how many
// chunks the merger had to parse again because priming guessed wrong.
func reparsedChunks(t *testing.T, sp scanPolicy, path string) (reparsed, chunks int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	c := chunking{chunk: 1, workers: 2, ahead: 4}
	bounds, err := chunkBounds(context.Background(), f, fi.Size(), c.chunk)
	if err != nil {
		t.Fatal(err)
	}
	reparsed, err = scanParallel(context.Background(), f, fi.Size(), sp.pipeline(), func(Offender) {}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reparsed, len(bounds) - 1
}

func TestPrimingGuessesEveryChunkStateOutsideTheRareCases(t *testing.T) {
	// Priming is what keeps the scan parallel: a chunk whose guessed state
	// is wrong is parsed a second time, by the one merging goroutine.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ordinary_logs_need_no_second_parse", func(t *testing.T) {
		sp := scanPolicy{loc: time.UTC, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), threshold: 3, window: 7 * 24 * time.Hour}
		var big strings.Builder
		for _, l := range benchLines("syslog-traditional", 2_000, berlin) {
			big.Write(l)
			big.WriteByte('\n')
		}
		// The upstream sample files mix syslog and ISO stamps line by line:
		// there a chunk after an ISO line cannot know which syslog day's
		// year the Parser caches, and is rightly parsed again.
		logs := []string{writeLog(t, "generated.log", big.String())}
		for _, path := range corpusLogs(t) {
			if strings.Contains(path, "fail2ban-1.0.2") {
				logs = append(logs, path)
			}
		}
		for _, path := range logs {
			if reparsed, chunks := reparsedChunks(t, sp, path); reparsed != 0 {
				t.Errorf("%s: %d of %d one-line chunks parsed twice, want none", filepath.Base(path), reparsed, chunks)
			}
		}
	})
	t.Run("the_repeated_hour_of_a_fall_back_is_parsed_again", func(t *testing.T) {
		sp := scanPolicy{loc: berlin, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), threshold: 3, window: time.Hour}
		reparsed, chunks := reparsedChunks(t, sp, writeLog(t, "fail2ban.log", berlinFallBack()))
		// The second 02:xx hour is 360 lines plus its journal lines; a
		// chunk starting in it is primed with the first occurrence.
		if reparsed < 300 || reparsed > 420 {
			t.Errorf("%d of %d chunks parsed twice, want about the repeated hour's 360 lines", reparsed, chunks)
		}
	})
}
