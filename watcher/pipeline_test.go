package watcher

import (
	"compress/gzip"
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// newTestPipeline builds the decision path as the daemon does, with the
// default exclude-jails.
func newTestPipeline(threshold int, window time.Duration) (*Pipeline, *Tracker) {
	tr := NewTracker(threshold, window)
	return NewPipeline(NewParser(ParserConfig{Location: corpusLoc}), NewFilter(nil, []string{"recidive"}, nil), tr), tr
}

// gzipCopy writes a gzip copy of src to dst.
func gzipCopy(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestScanFilesCountsEveryGenuineBanOfTheCorpus(t *testing.T) {
	for _, log := range corpusLogs(t) {
		if !strings.Contains(filepath.Base(log), "fail2ban-1.0.2") {
			continue // the upstream samples mix eras and an untimed line; the parser's corpus test covers them
		}
		tr := readTruth(t, log)
		zipped := filepath.Join(t.TempDir(), "rotated-without-suffix")
		gzipCopy(t, log, zipped)
		for name, path := range map[string]string{"plain": log, "gzip_recognised_by_magic_bytes": zipped} {
			t.Run(filepath.Base(log)+"/"+name, func(t *testing.T) {
				// A threshold nobody reaches keeps every address tracked.
				p, tracker := newTestPipeline(1000, 100*365*24*time.Hour)
				if err := ScanFiles([]string{path}, p, func(o Offender) { t.Errorf("unexpected offender %v", o.Addr) }); err != nil {
					t.Fatal(err)
				}
				st := p.Stats()
				if st.Bans != uint64(tr.Total) {
					t.Errorf("Stats.Bans = %d, want %d", st.Bans, tr.Total)
				}
				if want := len(readLines(t, log)); st.Lines != uint64(want) {
					t.Errorf("Stats.Lines = %d, want %d", st.Lines, want)
				}
				byJail := map[string]uint64{}
				for _, ip := range tr.PerIP {
					for j, n := range ip.ByJail {
						byJail[j] += uint64(n)
					}
				}
				if !maps.Equal(st.BansByJail, byJail) {
					t.Errorf("Stats.BansByJail = %v, want %v", st.BansByJail, byJail)
				}
				last := tr.Events[len(tr.Events)-1]
				if !strings.Contains(st.LastBanLine, "] Ban "+last.IP) {
					t.Errorf("Stats.LastBanLine = %q, want the ban of %s", st.LastBanLine, last.IP)
				}
				got := map[string]int{}
				for _, c := range tracker.Candidates() {
					got[c.Addr.String()] = c.Bans
				}
				for ip, want := range tr.PerIP {
					if got[ip] != want.Total {
						t.Errorf("%s: %d bans tracked, want %d", ip, got[ip], want.Total)
					}
				}
				if len(got) != len(tr.PerIP) {
					t.Errorf("%d addresses tracked, want %d", len(got), len(tr.PerIP))
				}
			})
		}
	}
}

func TestScanFilesFindsTheCorpusOffenders(t *testing.T) {
	log := filepath.Join(corpusDir(t), "fail2ban-1.0.2.log")
	tr := readTruth(t, log)
	for _, window := range []time.Duration{10 * time.Second, time.Minute, time.Hour} {
		t.Run("window_"+window.String(), func(t *testing.T) {
			// The reference: an address is an offender when 3 of its bans,
			// in time order, span at most the window.
			times := map[string][]time.Time{}
			for _, e := range tr.Events {
				times[e.IP] = append(times[e.IP], referenceTime(t, e.TS, time.Now()))
			}
			var want []string
			for ip, ts := range times {
				sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
				for i := 2; i < len(ts); i++ {
					if ts[i].Sub(ts[i-2]) <= window {
						want = append(want, ip)
						break
					}
				}
			}
			p, _ := newTestPipeline(3, window)
			var got []string
			if err := ScanFiles([]string{log}, p, func(o Offender) { got = append(got, o.Addr.String()) }); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("offenders %v, want %v", got, want)
			}
			if len(want) == 0 {
				t.Error("the reference found no offender: the test would prove nothing")
			}
		})
	}
}

func TestScanFilesCountsTooLongLinesAsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	at := time.Date(2026, 11, 24, 15, 51, 53, 0, time.UTC)
	content := banLine(at, "sshd", 1) + strings.Repeat(" padding", MaxLineLength) + "\n" + banLine(at, "sshd", 2) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p, tracker := newTestPipeline(3, time.Hour)
	if err := ScanFiles([]string{path}, p, func(Offender) {}); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Lines != 2 || st.Skipped[TooLong] != 1 || st.Bans != 1 {
		t.Errorf("Lines=%d TooLong=%d Bans=%d, want 2, 1, 1", st.Lines, st.Skipped[TooLong], st.Bans)
	}
	if c := tracker.Candidates(); len(c) != 1 || c[0].Addr != netip.MustParseAddr("192.0.2.3") {
		t.Errorf("tracked %v, want only 192.0.2.3", c)
	}
}

func TestScanFilesReportsAnUnreadableFile(t *testing.T) {
	p, _ := newTestPipeline(3, time.Hour)
	err := ScanFiles([]string{filepath.Join(t.TempDir(), "missing.log")}, p, func(Offender) {})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want a not-exist error", err)
	}
}

func BenchmarkScanFiles(b *testing.B) {
	lines := streamLines(time.Now().Add(-30*time.Hour), 100_000)
	data := []byte(strings.Join(lines, "\n") + "\n")
	dir := b.TempDir()
	plain := filepath.Join(dir, "fail2ban.log")
	if err := os.WriteFile(plain, data, 0o600); err != nil {
		b.Fatal(err)
	}
	zipped := filepath.Join(dir, "fail2ban.log.2.gz")
	f, err := os.Create(zipped)
	if err != nil {
		b.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	for name, path := range map[string]string{"plain": plain, "gzip": zipped} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				p, _ := newTestPipeline(3, 10*time.Minute)
				if err := ScanFiles([]string{path}, p, func(Offender) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(lines))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
