package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recidivist/recidivist/statedir"
)

// BenchmarkReconcileOwnerWait reconciles a big mirror against a kernel that
// lacks one entry and reports how long the owner's lock was held at once
// at most (what a new offender could wait behind), beside the whole
// reconcile's time. The fake kernel stands in for the real one, whose
// listing takes longer still and is not under the lock either.
func BenchmarkReconcileOwnerWait(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := newHarness(&testing.T{}, nil)
			if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
				b.Fatal(err)
			}
			var sb strings.Builder
			for i := range n {
				fmt.Fprintf(&sb, "10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
			}
			if err := os.WriteFile(statedir.Mirror(h.cfg.StateDir), []byte(sb.String()), 0o600); err != nil {
				b.Fatal(err)
			}
			d, err := New(h.cfg, Options{Store: h.fake, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now})
			if err != nil {
				b.Fatal(err)
			}
			if err := d.start(); err != nil {
				b.Fatal(err)
			}
			var worst atomic.Int64
			b.ResetTimer()
			for range b.N {
				if err := h.fake.Del(netip.MustParsePrefix("10.0.0.1/32")); err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // an offender's view: how long does taking the lock take?
					defer close(done)
					for {
						select {
						case <-stop:
							return
						default:
						}
						t := time.Now()
						d.mu.Lock()
						w := time.Since(t)
						d.mu.Unlock()
						if int64(w) > worst.Load() {
							worst.Store(int64(w))
						}
						time.Sleep(100 * time.Microsecond)
					}
				}()
				d.reconcile("bench")
				close(stop)
				<-done
			}
			b.ReportMetric(float64(worst.Load())/1e6, "max-owner-wait-ms")
			if !blocklistHas(b, h, "10.0.0.1") {
				b.Fatal("the reconcile did not put the missing entry back")
			}
		})
	}
}

func blocklistHas(b *testing.B, h *harness, addr string) bool {
	es, err := h.fake.List()
	if err != nil {
		b.Fatal(err)
	}
	p := netip.MustParsePrefix(addr + "/32")
	for _, e := range es {
		if e.Prefix == p {
			return true
		}
	}
	return false
}
