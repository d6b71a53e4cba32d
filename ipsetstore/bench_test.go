package ipsetstore_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
)

// BenchmarkReplace times the whole-blocklist restore (fill scratch sets in
// batches, swap, destroy) of 100,000 entries in a fresh network namespace.
func BenchmarkReplace(b *testing.B) {
	const n = 100_000
	netnstest.Enter(b)
	s, err := ipsetstore.New(ipsetstore.Config{SetName: "bench", Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() }) //nolint:errcheck // benchmark teardown
	if _, err := s.Ensure(); err != nil {
		b.Fatal(err)
	}
	es := make([]ipsetstore.Entry, n)
	for i := range es {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		es[i] = ipsetstore.Entry{Prefix: netip.PrefixFrom(a, 32), Comment: "recidivist"}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Replace(es, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkList times dumping 100,000 entries back.
func BenchmarkList(b *testing.B) {
	const n = 100_000
	netnstest.Enter(b)
	s, err := ipsetstore.New(ipsetstore.Config{SetName: "bench", Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() }) //nolint:errcheck // benchmark teardown
	es := make([]ipsetstore.Entry, n)
	for i := range es {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		es[i] = ipsetstore.Entry{Prefix: netip.PrefixFrom(a, 32), Comment: "recidivist"}
	}
	if err := s.Replace(es, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := s.List()
		if err != nil || len(got) != n {
			b.Fatalf("List = %d entries, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkStatus prints what the daemon's header check (every 2 s) costs
// on the ipset backend at 100k and 1M entries: both sets' headers (the
// kernel keeps the count) and the rules of INPUT, read with iptables -S.
func BenchmarkStatus(b *testing.B) {
	netnstest.Enter(b)
	s, err := ipsetstore.New(ipsetstore.Config{SetName: "bench", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 2_000_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() }) //nolint:errcheck // benchmark teardown
	if _, err := s.Ensure(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100_000, 1_000_000} {
		es := make([]ipsetstore.Entry, n)
		for i := range es {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			es[i] = ipsetstore.Entry{Prefix: netip.PrefixFrom(a, 32), Comment: "recidivist"}
		}
		if err := s.Replace(es, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				if st, err := s.Status(); err != nil || st.Sets[0].Entries != n {
					b.Fatal(st, err)
				}
			}
		})
	}
}
