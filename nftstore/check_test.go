package nftstore_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

func TestLayout_is_Status_without_the_counts_and_the_generation_moves_with_every_commit(t *testing.T) {
	s := newStore(t, ipsetstore.Config{SetName: "rcdvlay", Chains: []string{"INPUT"}, Target: "DROP"})
	if _, err := s.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ipsetstore.Entry{Prefix: pfx("192.0.2.7")}); err != nil {
		t.Fatal(err)
	}
	gen, err := s.Generation()
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	lay, err := s.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if full.Sets[0].Entries != 1 || lay.Sets[0].Entries != 0 || !lay.Sets[0].Exists || !lay.Healthy() {
		t.Errorf("Status sets %+v, Layout sets %+v: want the same sets, Layout without counts", full.Sets, lay.Sets)
	}
	if again, err := s.Generation(); err != nil || again != gen {
		t.Errorf("generation after reads only = %d, %v; want %d", again, err, gen)
	}
	nft(t, "flush", "chain", "inet", "rcdvlay", "input")
	lay, err = s.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if lay.Healthy() || lay.Rules[0].Count != 0 {
		t.Errorf("Layout after the chain was flushed = %+v, want the rules missing", lay.Rules)
	}
	if again, err := s.Generation(); err != nil || again == gen {
		t.Errorf("generation after nft flush chain = %d, %v; want other than %d", again, err, gen)
	}
}

// BenchmarkCheck prints what the daemon's frequent check costs on the
// nftables backend at 100k and 1M entries: Generation (what it reads when
// nothing changed), Layout (when something did) and, for comparison, the
// full Status that lists every element (100k only: a million takes
// minutes).
func BenchmarkCheck(b *testing.B) {
	netnstest.Enter(b)
	s, err := nftstore.New(ipsetstore.Config{SetName: "bench", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 2_000_000})
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
			es[i] = ipsetstore.Entry{Prefix: netip.PrefixFrom(a, 32), Timeout: time.Hour, Comment: "recidivist"}
		}
		if err := s.Replace(es, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("Generation/%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Generation(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Layout/%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				if st, err := s.Layout(); err != nil || !st.Healthy() {
					b.Fatal(st, err)
				}
			}
		})
		if n > 100_000 {
			continue
		}
		b.Run(fmt.Sprintf("Status/%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				if st, err := s.Status(); err != nil || st.Sets[0].Entries != n {
					b.Fatal(st, err)
				}
			}
		})
	}
}
