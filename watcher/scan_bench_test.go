package watcher

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchLog writes a realistic 1M-line native log (benchLines' mix) once per
// benchmark run and returns its path and line count.
func benchLog(b *testing.B, loc *time.Location) (string, int) {
	b.Helper()
	const n = 1_000_000
	var buf bytes.Buffer
	for _, l := range benchLines("native", n, loc) {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "fail2ban.log")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return path, n
}

// BenchmarkScanFiles1M scans a 1M-line, ~110 MB log end to end (reading,
// parsing, filtering, tracking) and reports lines/s and MB/s. Run it with
// -cpu 1: bench/scan.sh holds the one-core goal, beside grep and mawk.
func BenchmarkScanFiles1M(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	path, lines := benchLog(b, berlin)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC) }
	b.ReportAllocs()
	offenders := 0
	for b.Loop() {
		p := NewPipeline(NewParser(ParserConfig{Location: berlin, Now: now}), NewFilter(nil, []string{"recidive"}, nil), NewTracker(3, 7*24*time.Hour))
		if err := ScanFiles([]string{path}, p, func(Offender) { offenders++ }); err != nil {
			b.Fatal(err)
		}
		if got := p.Stats().Lines; got != uint64(lines) {
			b.Fatalf("scanned %d lines, want %d", got, lines)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(lines)*float64(b.N)/secs, "lines/s")
	b.ReportMetric(float64(fi.Size())*float64(b.N)/secs/1e6, "MB/s")
	b.ReportMetric(float64(offenders)/float64(b.N), "offenders")
}
