package watcher

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// BenchmarkTrackerMemory measures the heap a Tracker at threshold 3 holds per
// tracked address, with 1M distinct addresses of one family, half of them
// with one ban and half with two, all within the window (issue point 9: at
// most 64 B/addr).
func BenchmarkTrackerMemory(b *testing.B) {
	const addrs = 1 << 20
	families := []struct {
		name string
		addr func(i int) netip.Addr
	}{
		{"ipv4", func(i int) netip.Addr {
			return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}},
		{"ipv6", func(i int) netip.Addr {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 5: byte(i >> 16), 7: byte(i >> 8), 15: byte(i)})
		}},
	}
	for _, f := range families {
		b.Run(f.name, func(b *testing.B) {
			var perAddr float64
			for b.Loop() {
				perAddr = trackerBytesPerAddr(b, addrs, f.addr)
			}
			b.ReportMetric(perAddr, "B/addr")
		})
	}
}

func trackerBytesPerAddr(b *testing.B, n int, addr func(int) netip.Addr) float64 {
	b.Helper()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	jails := []string{"sshd", "postfix-sasl", "nginx-http-auth"}
	before := heapAfterGC()
	tr := NewTracker(3, 7*24*time.Hour)
	for i := range n {
		tr.Observe(Ban{Time: start.Add(time.Duration(i) * time.Millisecond), Jail: jails[i%3], Addr: addr(i)})
	}
	for i := 0; i < n; i += 2 {
		tr.Observe(Ban{Time: start.Add(time.Hour + time.Duration(i)*time.Millisecond), Jail: jails[(i+1)%3], Addr: addr(i)})
	}
	after := heapAfterGC()
	if tr.Len() != n {
		b.Fatalf("tracked %d addresses, want %d", tr.Len(), n)
	}
	perAddr := float64(after-before) / float64(tr.Len())
	runtime.KeepAlive(tr)
	return perAddr
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkObserve measures how many bans per second a Tracker at threshold
// 3 counts when 65536 addresses of both families come back, so that
// addresses are added, counted, turned into offenders and dropped.
func BenchmarkObserve(b *testing.B) {
	const distinct = 1 << 16
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	jails := []string{"sshd", "postfix-sasl", "nginx-http-auth", "dovecot"}
	bans := make([]Ban, 1<<20)
	for i := range bans {
		a := uint32(i*2654435761) % distinct // scatter the order of returns
		addr := netip.AddrFrom4([4]byte{198, 18, byte(a >> 8), byte(a)})
		if a%4 == 0 {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(a >> 8), 15: byte(a)})
		}
		bans[i] = Ban{Jail: jails[i%len(jails)], Addr: addr}
	}
	tr := NewTracker(3, 7*24*time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ban := bans[i%len(bans)]
		ban.Time = start.Add(time.Duration(i) * time.Second) // always forward, as in a live log
		tr.Observe(ban)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bans/s")
}
