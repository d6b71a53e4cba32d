package watcher

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// benchLines builds a realistic stream in one of the corpus's formats: about
// 78% Found, 10% Ban, 8% Unban and 4% other lines (Increase Ban, already
// banned, "Found ..., Ban", Restore Ban), 2,000 addresses, a fifth of them
// IPv6, four jails, timestamps 50 ms apart.
func benchLines(format string, n int, loc *time.Location) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 2000)
	for i := range addrs {
		if i%5 == 0 {
			addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i >> 8), 14: byte(i >> 8), 15: byte(i)})
		} else {
			addrs[i] = netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		}
	}
	jails := []string{"sshd", "postfix-sasl", "nginx-http-auth", "dovecot"}
	start := time.Date(2026, 11, 24, 15, 51, 47, 810e6, loc)

	lines := make([][]byte, n)
	for i := range lines {
		ts := start.Add(time.Duration(i) * 50 * time.Millisecond)
		jail, addr := jails[rng.IntN(len(jails))], addrs[rng.IntN(len(addrs))]
		var logger, level, msg string
		switch r := rng.IntN(100); {
		case r < 78:
			logger, level, msg = "fail2ban.filter", "INFO", fmt.Sprintf("[%s] Found %s - %s", jail, addr, ts.Format("2006-01-02 15:04:05"))
		case r < 88:
			logger, level, msg = "fail2ban.actions", "NOTICE", fmt.Sprintf("[%s] Ban %s", jail, addr)
		case r < 96:
			logger, level, msg = "fail2ban.actions", "NOTICE", fmt.Sprintf("[%s] Unban %s", jail, addr)
		case r < 97:
			logger, level, msg = "fail2ban.observer", "NOTICE", fmt.Sprintf("[%s] Increase Ban %s (2 # 12s -> %s)", jail, addr, ts.Add(12*time.Second).Format("2006-01-02 15:04:05"))
		case r < 98:
			logger, level, msg = "fail2ban.actions", "NOTICE", fmt.Sprintf("[%s] %s already banned", jail, addr)
		case r < 99:
			logger, level, msg = "fail2ban.observer", "INFO", fmt.Sprintf("[%s] Found %s, bad - %s, 2 # -> 3.0, Ban", jail, addr, ts.Format("2006-01-02 15:04:05"))
		default:
			logger, level, msg = "fail2ban.actions", "NOTICE", fmt.Sprintf("[%s] Restore Ban %s", jail, addr)
		}
		switch format {
		case "native":
			lines[i] = fmt.Appendf(nil, "%s %-24s[9091]: %-7s %s", ts.Format("2006-01-02 15:04:05,000"), logger, level, msg)
		case "syslog-iso":
			lines[i] = fmt.Appendf(nil, "%s vm %s[9723]: %s %s", ts.Format("2006-01-02T15:04:05.000000-07:00"), logger, level, msg)
		case "syslog-traditional":
			lines[i] = fmt.Appendf(nil, "%s vm %s[9723]: %s %s", ts.Format(time.Stamp), logger, level, msg)
		}
	}
	return lines
}

// BenchmarkParse reports lines/s and MB/s of one Parser (one core) on a
// realistic mix of lines; the goal is ≥ 5M lines/s and 0 allocs/op.
func BenchmarkParse(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"native", "syslog-iso", "syslog-traditional"} {
		b.Run(format, func(b *testing.B) {
			lines := benchLines(format, 1<<14, berlin)
			now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
			p := NewParser(ParserConfig{Location: berlin, Now: func() time.Time { return now }})
			// Warm up: intern the jails, fill the zone and year caches.
			for _, l := range lines {
				p.Parse(l)
			}
			countable := 0
			bytesRead := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l := lines[i&(len(lines)-1)]
				bytesRead += len(l)
				if _, v := p.Parse(l); v == Countable {
					countable++
				}
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/secs, "lines/s")
			b.ReportMetric(float64(bytesRead)/secs/1e6, "MB/s")
			if share := float64(countable) / float64(b.N); b.N > len(lines) && (share < 0.08 || share > 0.12) {
				b.Fatalf("%.1f%% of lines counted, want about 10%%: the mix or the parser is wrong", 100*share)
			}
			if s := p.Skipped(); len(s) != 0 {
				b.Fatalf("well-formed lines skipped: %v", s)
			}
		})
	}
}
