package blocklist_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

// benchMirror writes a mirror of n offender lines and returns it.
func benchMirror(b *testing.B, n int) *blocklist.File {
	b.Helper()
	added := at("2026-11-24T13:55:51Z")
	var sb strings.Builder
	sb.WriteString("# recidivist mirror\n")
	for i := range n {
		e := blocklist.Entry{
			Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32),
			Added:  added, Jails: []string{"sshd", "postfix"}, Bans: 3, Expires: added.Add(7 * 24 * time.Hour),
		}
		sb.WriteString(e.String())
		sb.WriteString("\n")
	}
	path := filepath.Join(b.TempDir(), "blocklist")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return blocklist.Open(path)
}

func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("%d_entries", n), func(b *testing.B) {
			f := benchMirror(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				es, bad, err := f.Load()
				if err != nil || len(bad) != 0 || len(es) != n {
					b.Fatalf("Load: %d entries, %d bad, %v", len(es), len(bad), err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkAdd measures one offender added to a mirror of 10,000 entries:
// a locked read, a rewrite, two fsyncs and a rename.
func BenchmarkAdd(b *testing.B) {
	f := benchMirror(b, 10_000)
	added := at("2026-11-25T00:00:00Z")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		e := blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 32),
			Added: added, Jails: []string{"sshd"}, Bans: 3}
		i++
		if got, err := f.Add(e); err != nil || len(got) != 1 {
			b.Fatalf("Add: %v, %v", got, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := blocklist.Policy{Ignore: []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.168.0.0/16"), pfx("2001:db8::/32")}}
	target := pfx("203.0.113.7/32")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(target, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
