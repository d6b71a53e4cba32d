package ipsetstore_test

import (
	"errors"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
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

func TestEnsureCreatesSetsTheContractDescribes(t *testing.T) {
	cfg := ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 65536}
	s := newKernelStore(t, cfg)
	mustEnsure(t, s)
	for _, c := range []struct {
		name   string
		family uint8
	}{{"recidivist", unix.AF_INET}, {"recidivist6", unix.AF_INET6}} {
		h, err := netlink.IpsetList(c.name)
		if err != nil {
			t.Fatalf("IpsetList(%s): %v", c.name, err)
		}
		if h.TypeName != "hash:net" || h.Family != c.family || h.MaxElements != 65536 {
			t.Errorf("set %s: type %s family %d maxelem %d, want hash:net %d 65536", c.name, h.TypeName, h.Family, h.MaxElements, c.family)
		}
		if h.CadtFlags&nl.IPSET_FLAG_WITH_COUNTERS == 0 || h.CadtFlags&nl.IPSET_FLAG_WITH_COMMENT == 0 {
			t.Errorf("set %s: flags %#x lack counters or comment", c.name, h.CadtFlags)
		}
		if h.Timeout == nil || *h.Timeout != 0 {
			t.Errorf("set %s: timeout %v, want timeout support with default 0", c.name, h.Timeout)
		}
	}
}

func TestEnsureWritesTheOneRuleIptablesShows(t *testing.T) {
	cases := []struct {
		name  string
		cfg   ipsetstore.Config
		want4 string
		want6 string
	}{
		{
			name:  "drop_everything_from_the_set",
			cfg:   ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"},
			want4: "-A INPUT -m set --match-set recidivist src -m comment --comment recidivist -j DROP",
			want6: "-A INPUT -m set --match-set recidivist6 src -m comment --comment recidivist -j DROP",
		},
		{
			name:  "reject_only_the_listed_tcp_ports",
			cfg:   ipsetstore.Config{SetName: "bl", Chains: []string{"INPUT"}, Target: "REJECT", Ports: "tcp:22,80,443"},
			want4: "-A INPUT -p tcp -m set --match-set bl src -m multiport --dports 22,80,443 -m comment --comment recidivist -j REJECT --reject-with icmp-port-unreachable",
			want6: "-A INPUT -p tcp -m set --match-set bl6 src -m multiport --dports 22,80,443 -m comment --comment recidivist -j REJECT --reject-with icmp6-port-unreachable",
		},
		{
			// The ports key advertises sctp; multiport matches it as it
			// matches tcp and udp.
			name:  "drop_only_the_listed_sctp_ports",
			cfg:   ipsetstore.Config{SetName: "bl", Chains: []string{"INPUT"}, Target: "DROP", Ports: "sctp:22,1000:2000"},
			want4: "-A INPUT -p sctp -m set --match-set bl src -m multiport --dports 22,1000:2000 -m comment --comment recidivist -j DROP",
			want6: "-A INPUT -p sctp -m set --match-set bl6 src -m multiport --dports 22,1000:2000 -m comment --comment recidivist -j DROP",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newKernelStore(t, c.cfg)
			for range 10 {
				mustEnsure(t, s)
			}
			if got := rules(t, "iptables", "INPUT"); !slices.Equal(got, []string{c.want4}) {
				t.Errorf("iptables -S INPUT = %q, want exactly %q", got, c.want4)
			}
			if got := rules(t, "ip6tables", "INPUT"); !slices.Equal(got, []string{c.want6}) {
				t.Errorf("ip6tables -S INPUT = %q, want exactly %q", got, c.want6)
			}
			run(t, "iptables", "-I", "INPUT", "1", "-s", "192.0.2.99", "-j", "ACCEPT")
			run(t, "iptables", strings.Fields(c.want4)...) // a duplicate below
			mustEnsure(t, s)
			got := rules(t, "iptables", "INPUT")
			if len(got) != 2 || got[0] != c.want4 {
				t.Errorf("after burying and duplicating, iptables -S INPUT = %q, want ours on top and the foreign rule below", got)
			}
		})
	}
}

func TestEnsure_leaves_a_missing_chain_pending_and_fills_it_once_it_exists(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT", "DOCKER-USER"}, Target: "DROP"})
	r, err := s.Ensure()
	if err != nil {
		t.Fatalf("Ensure with DOCKER-USER absent = %v, want no error (the chain is pending)", err)
	}
	if !slices.Equal(r.Pending, []string{"DOCKER-USER/inet", "DOCKER-USER/inet6"}) {
		t.Errorf("pending after Ensure = %q, want DOCKER-USER of both families", r.Pending)
	}
	if len(rules(t, "iptables", "INPUT")) != 1 || len(rules(t, "ip6tables", "INPUT")) != 1 {
		t.Errorf("INPUT lacks its rules while DOCKER-USER is pending")
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range st.Rules {
		if rs.Chain == "DOCKER-USER" && !rs.Pending {
			t.Errorf("status of the absent DOCKER-USER = %+v, want pending", rs)
		}
	}
	if err := s.Teardown(); err != nil {
		t.Fatalf("Teardown with a missing chain = %v, want nil", err)
	}

	run(t, "iptables", "-N", "DOCKER-USER")
	run(t, "iptables", "-A", "DOCKER-USER", "-j", "RETURN")
	if r, err = s.Ensure(); err != nil {
		t.Fatalf("Ensure once DOCKER-USER exists for IPv4: %v", err)
	}
	if !slices.Equal(r.Pending, []string{"DOCKER-USER/inet6"}) || !slices.Contains(r.RulesCreated, "DOCKER-USER/inet") {
		t.Errorf("repairs once DOCKER-USER exists for IPv4 = %+v, want its rule created and only inet6 pending", r)
	}
	if got := rules(t, "iptables", "DOCKER-USER"); len(got) != 2 || !strings.Contains(got[0], "--match-set recidivist src") {
		t.Errorf("iptables -S DOCKER-USER = %q, want our rule above Docker's RETURN", got)
	}
}

func TestReplaceKeepsTheRuleOnTheLiveSetAndLeavesNoScratchSet(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	mustEnsure(t, s)
	mustAdd(t, s, ipsetstore.Entry{Prefix: pfx("192.0.2.1")})
	if err := s.Replace([]ipsetstore.Entry{{Prefix: pfx("198.51.100.1")}}, nil); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	sets, err := netlink.IpsetListAll()
	if err != nil {
		t.Fatalf("IpsetListAll: %v", err)
	}
	var names []string
	for _, set := range sets {
		names = append(names, set.SetName)
		if set.SetName == "recidivist" && set.References != 1 {
			t.Errorf("set recidivist has %d references after Replace, want the 1 rule", set.References)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"recidivist", "recidivist6"}) {
		t.Errorf("sets after Replace = %v, want only the two live ones", names)
	}
}

func TestBatchesSpanManyMessagesAndNameTheRefusedEntry(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 3000})
	mustEnsure(t, s)
	long := strings.Repeat("é", 200) // 400 bytes: cut to 255 at a rune boundary
	var es []ipsetstore.Entry
	for i := range 5000 {
		es = append(es, ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 32), Comment: long})
	}
	if err := s.Replace(es[:3000], nil); err != nil {
		t.Fatalf("Replace with 3000 entries of long comments: %v", err)
	}
	got := mustList(t, s)
	if len(got) != 3000 {
		t.Fatalf("List after Replace holds %d entries, want 3000", len(got))
	}
	if c := got[0].Comment; len(c) != 254 || !strings.HasPrefix(long, c) {
		t.Errorf("listed comment has %d bytes, want the first 254 (127 runes) of the long one", len(c))
	}
	err := s.Replace(es, nil)
	if !errors.Is(err, ipsetstore.ErrSetFull) || !strings.Contains(err.Error(), es[3000].Prefix.Addr().String()) {
		t.Fatalf("Replace of 5000 into maxelem 3000 = %v, want ErrSetFull naming %s", err, es[3000].Prefix)
	}
}

func TestReplaceReportsProgressOnceEveryEntryIsInTheKernel(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	mustEnsure(t, s)
	var es []ipsetstore.Entry
	for i := range 20000 {
		es = append(es, ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)})
	}
	for i := range 3000 {
		es = append(es, ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 128)})
	}
	var reports, added int
	if err := s.Replace(es, func(n int) { reports++; added += n }); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if added != len(es) || reports < 2 {
		t.Errorf("progress heard %d entries in %d reports, want all %d in several batches", added, reports, len(es))
	}
	if err := s.Replace(es[:10], nil); err != nil {
		t.Fatalf("Replace without progress: %v", err)
	}
}
