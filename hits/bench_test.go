package hits_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
)

// BenchmarkSample samples 100,000 blocks, a tenth of them hit each time:
// the CPU one hit-sample-interval costs the daemon beside the listing.
func BenchmarkSample(b *testing.B) {
	const n = 100_000
	es := make([]blocklist.Entry, n)
	cs := make([]ipsetstore.Counted, n)
	for i := range es {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		es[i] = blocklist.Entry{Prefix: netip.PrefixFrom(a, 32), Added: t0, Jails: []string{"sshd"}}
		cs[i] = ipsetstore.Counted{Entry: ipsetstore.Entry{Prefix: es[i].Prefix}}
	}
	var book hits.Book
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := i % 10; j < n; j += 10 {
			cs[j].Packets++
		}
		book.Sample(t0.Add(time.Duration(i+1)*time.Minute), es, cs, false)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
