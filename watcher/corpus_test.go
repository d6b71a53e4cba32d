package watcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/testenv"
)

// corpusDir returns the shared corpus of genuine fail2ban logs. Without it
// the test skips, except under CI=true, where a missing corpus is a failure.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("corpus not available (%v); it lives in /work/shared/corpus", err))
	}
	return dir
}

// corpusLogs lists the corpus's log files.
func corpusLogs(t testing.TB) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(corpusDir(t), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("corpus holds no *.log file")
	}
	return logs
}

// readLines returns a file's lines without their "\n".
func readLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// truth is the part of a corpus *.truth.json this test checks.
type truth struct {
	ExcludedJails []string `json:"excluded_jails"`
	Total         int      `json:"countable_bans_total"`
	PerIP         map[string]struct {
		Total  int            `json:"total"`
		ByJail map[string]int `json:"by_jail"`
	} `json:"per_ip"`
	ExcludedJailBans map[string]map[string]int `json:"excluded_jail_bans"`
	Events           []struct {
		TS   string `json:"ts"`
		Jail string `json:"jail"`
		IP   string `json:"ip"`
	} `json:"countable_events"`
	Untimed    []string `json:"ban_lines_without_timestamp"`
	BadAddress []string `json:"ban_lines_with_invalid_address"`
}

func readTruth(t *testing.T, logPath string) truth {
	t.Helper()
	data, err := os.ReadFile(strings.TrimSuffix(logPath, ".log") + ".truth.json")
	if err != nil {
		t.Fatal(err)
	}
	var tr truth
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatalf("decoding truth of %s: %v", logPath, err)
	}
	return tr
}

// The corpus was generated with TZ=UTC, so its zone-less stamps are UTC.
var corpusLoc = time.UTC

// Reference timestamp layouts, parsed with the standard library: an oracle
// independent of the parser's hand-written digit reader.
var (
	stampF2B     = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}`)
	stampRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+`)
	stampSyslog  = regexp.MustCompile(`^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d`)
)

// referenceTime parses a literal timestamp of the truth files. Year-less
// syslog stamps get the latest year that does not put them more than a day
// after now.
func referenceTime(t *testing.T, ts string, now time.Time) time.Time {
	t.Helper()
	var got time.Time
	var err error
	switch {
	case stampF2B.MatchString(ts):
		got, err = time.ParseInLocation("2006-01-02 15:04:05,000", stampF2B.FindString(ts), corpusLoc)
	case stampRFC3339.MatchString(ts):
		got, err = time.Parse(time.RFC3339Nano, stampRFC3339.FindString(ts))
	case stampSyslog.MatchString(ts):
		got, err = time.ParseInLocation("Jan _2 15:04:05", stampSyslog.FindString(ts), corpusLoc)
		got = got.AddDate(now.Year()-got.Year(), 0, 0)
		if got.After(now.Add(24 * time.Hour)) {
			got = got.AddDate(-1, 0, 0)
		}
	default:
		t.Fatalf("no timestamp in %q", ts)
	}
	if err != nil {
		t.Fatalf("parsing reference timestamp %q: %v", ts, err)
	}
	return got
}

// corpusNow is "just after the log's dates" for year-less stamps: a minute
// after the latest dated event of the whole corpus (the traditional-syslog
// file is the same run as the RFC 3339 one).
func corpusNow(t *testing.T) time.Time {
	t.Helper()
	var latest time.Time
	for _, log := range corpusLogs(t) {
		for _, ev := range readTruth(t, log).Events {
			if stampSyslog.MatchString(ev.TS) {
				continue
			}
			if ts := referenceTime(t, ev.TS, time.Time{}); ts.After(latest) {
				latest = ts
			}
		}
	}
	return latest.Add(time.Minute)
}

// event is one countable ban as the test compares them.
type event struct {
	Line int
	Time time.Time
	Jail string
	Addr netip.Addr
}

func (e event) String() string {
	return e.Time.UTC().Format(time.RFC3339Nano) + " [" + e.Jail + "] " + e.Addr.String()
}

// expectedEvents places the truth's events on the lines that hold them.
// The timestamp-less ban lines the truth lists never count (PRODUCT.md: a
// line without its own timestamp never counts); they are skipped.
func expectedEvents(t *testing.T, lines []string, tr truth, now time.Time) []event {
	t.Helper()
	var want []event
	from := 0
	for _, ev := range tr.Events {
		needle := "[" + ev.Jail + "] Ban " + ev.IP
		i := from
		for i < len(lines) && !(strings.HasPrefix(lines[i], ev.TS) && strings.HasSuffix(strings.TrimRight(lines[i], " \r"), needle)) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("truth event %s %s not found after line %d", ev.TS, needle, from+1)
		}
		want = append(want, event{i + 1, referenceTime(t, ev.TS, now), ev.Jail, netip.MustParseAddr(ev.IP)})
		from = i + 1
	}
	for _, untimed := range tr.Untimed {
		if !slices.Contains(lines, untimed) {
			t.Fatalf("timestamp-less line %q not in log", untimed)
		}
	}
	slices.SortFunc(want, func(a, b event) int { return a.Line - b.Line })
	return want
}

func TestCorpus_every_countable_ban_is_found_with_its_time(t *testing.T) {
	now := corpusNow(t)
	for _, log := range corpusLogs(t) {
		t.Run(filepath.Base(log), func(t *testing.T) {
			tr := readTruth(t, log)
			lines := readLines(t, log)
			filter := NewFilter(nil, tr.ExcludedJails, nil)
			p := NewParser(ParserConfig{Location: corpusLoc, Now: func() time.Time { return now }})

			var got []event
			excluded := map[string]map[string]int{}
			for i, line := range lines {
				b, v := p.Parse([]byte(line))
				if v != Countable {
					continue
				}
				if !filter.Allow(b) {
					if excluded[b.Addr.String()] == nil {
						excluded[b.Addr.String()] = map[string]int{}
					}
					excluded[b.Addr.String()][b.Jail]++
					continue
				}
				got = append(got, event{i + 1, b.Time, b.Jail, b.Addr})
			}

			want := expectedEvents(t, lines, tr, now)
			if len(got) != len(want) {
				t.Errorf("got %d countable bans, want %d (truth %d; %d without timestamp never count)", len(got), len(want), tr.Total, len(tr.Untimed))
			}
			for i := range max(len(got), len(want)) {
				switch {
				case i >= len(got):
					t.Errorf("line %d: missed %v", want[i].Line, want[i])
				case i >= len(want):
					t.Errorf("line %d: unexpected %v", got[i].Line, got[i])
				case got[i].Line != want[i].Line || !got[i].Time.Equal(want[i].Time) || got[i].Jail != want[i].Jail || got[i].Addr != want[i].Addr:
					t.Errorf("line %d: got %v, want line %d: %v", got[i].Line, got[i], want[i].Line, want[i])
				}
			}

			// Per address and per jail, as the truth tables count them.
			wantPerIP := map[string]map[string]int{}
			for ip, c := range tr.PerIP {
				wantPerIP[ip] = map[string]int{}
				sum := 0
				for jail, n := range c.ByJail {
					wantPerIP[ip][jail] = n
					sum += n
				}
				if sum != c.Total {
					t.Fatalf("truth of %s: by_jail of %s sums to %d, total says %d", ip, filepath.Base(log), sum, c.Total)
				}
			}
			gotPerIP := map[string]map[string]int{}
			for _, e := range got {
				if gotPerIP[e.Addr.String()] == nil {
					gotPerIP[e.Addr.String()] = map[string]int{}
				}
				gotPerIP[e.Addr.String()][e.Jail]++
			}
			if !equalCounts(gotPerIP, wantPerIP) {
				t.Errorf("per address and jail: got %v, want %v", gotPerIP, wantPerIP)
			}
			if !equalCounts(excluded, tr.ExcludedJailBans) {
				t.Errorf("bans of excluded jails: got %v, want %v", excluded, tr.ExcludedJailBans)
			}
			wantSkipped := map[SkipReason]uint64{}
			if n := len(tr.BadAddress); n > 0 {
				wantSkipped[BadAddress] = uint64(n)
			}
			if n := len(tr.Untimed); n > 0 {
				wantSkipped[NoTimestamp] = uint64(n)
			}
			if got := p.Skipped(); !equalSkips(got, wantSkipped) {
				t.Errorf("skipped: got %v, want %v", got, wantSkipped)
			}
		})
	}
}

func equalCounts(a, b map[string]map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, m := range a {
		n, ok := b[k]
		if !ok || len(m) != len(n) {
			return false
		}
		for j, c := range m {
			if n[j] != c {
				return false
			}
		}
	}
	return true
}

func equalSkips(a, b map[SkipReason]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The corpus's non-ban lines, kind by kind, must all be NotBan: the truth
// counts them but does not list them, so this reads them from the logs.
func TestCorpus_lines_that_are_not_bans_never_count(t *testing.T) {
	kinds := []struct {
		name   string
		marker string
	}{
		{"restore_ban", "] Restore Ban "},
		{"reban", "] Reban "},
		{"unban", "] Unban "},
		{"already_banned", " already banned"},
		{"increase_ban", "] Increase Ban "},
		{"found_ending_in_ban", ", Ban"},
		{"flush", "] Flush ticket"},
	}
	seen := map[string]int{}
	for _, log := range corpusLogs(t) {
		p := NewParser(ParserConfig{Location: corpusLoc, Now: func() time.Time { return time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC) }})
		sc := bufio.NewScanner(bytes.NewReader(mustRead(t, log)))
		for sc.Scan() {
			line := sc.Text()
			for _, k := range kinds {
				if !strings.Contains(line, k.marker) {
					continue
				}
				seen[k.name]++
				if _, v := p.Parse([]byte(line)); v != NotBan {
					t.Errorf("%s: %s line %q: got %v, want NotBan", filepath.Base(log), k.name, line, v)
				}
			}
		}
	}
	for _, k := range kinds {
		if seen[k.name] == 0 {
			t.Errorf("corpus holds no %s line: this test checks nothing for it", k.name)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
