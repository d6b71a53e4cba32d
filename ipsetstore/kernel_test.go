package ipsetstore_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
)

// newKernelStore enters a fresh network namespace and returns a store for
// cfg living there.
func newKernelStore(t *testing.T, cfg ipsetstore.Config) *ipsetstore.NetlinkStore {
	t.Helper()
	netnstest.Enter(t)
	return openStore(t, cfg)
}

// openStore returns a store for cfg in the current namespace, closed at
// cleanup.
func openStore(t *testing.T, cfg ipsetstore.Config) *ipsetstore.NetlinkStore {
	t.Helper()
	s, err := ipsetstore.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return s
}

// rules returns the lines of `iptables -S chain` (or ip6tables) in the
// current namespace.
func rules(t *testing.T, cmd, chain string) []string {
	t.Helper()
	out, err := exec.Command(cmd, "-S", chain).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -S %s: %v: %s", cmd, chain, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "-A ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// run runs a command in the current namespace, failing the test on error.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}
