package ipsetstore_test

import (
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

// TestConformanceNftables runs the conformance suite against the nftables
// backend in a fresh network namespace.
func TestConformanceNftables(t *testing.T) { runConformance(t, nftSubject) }

func nftSubject(t *testing.T, cfg ipsetstore.Config) subject {
	t.Helper()
	netnstest.Enter(t)
	s, err := nftstore.New(cfg)
	if err != nil {
		t.Fatalf("nftstore.New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	table := cfg.SetName
	chains := []string{"input", "forward"}
	return subject{
		store: s,
		flushRules: func() {
			for _, c := range chains {
				run(t, "nft", "flush", "chain", "inet", table, c)
			}
		},
		buryRule: func() {
			for _, c := range chains {
				run(t, "nft", "insert", "rule", "inet", table, c, "ip", "saddr", "192.0.2.99", "accept")
			}
		},
		flushSets: func() {
			run(t, "nft", "flush", "set", "inet", table, "v4")
			run(t, "nft", "flush", "set", "inet", table, "v6")
		},
		destroySets: func() { run(t, "nft", "delete", "table", "inet", table) },
	}
}
