package nftstore_test

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

// newStore enters a fresh network namespace and returns a store for cfg
// living there.
func newStore(t *testing.T, cfg ipsetstore.Config) *nftstore.Store {
	t.Helper()
	netnstest.Enter(t)
	s, err := nftstore.New(cfg)
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

// nft runs nft in the current namespace and returns its output.
func nft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nft", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// squash joins the lines of nft's output with single spaces.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// nft prints the rule without the meta nfproto check it implies for "ip
// saddr"; the store writes that check itself (an inet table needs it).
func TestEnsureWritesTheTableNftShows(t *testing.T) {
	cases := []struct {
		name string
		cfg  ipsetstore.Config
		want []string
	}{
		{
			name: "drop_on_input",
			cfg:  ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"},
			want: []string{
				"table inet recidivist {",
				"set v4 { type ipv4_addr size 1048576 flags interval,timeout counter comment \"managed by recidivist\" }",
				"set v6 { type ipv6_addr size 1048576 flags interval,timeout counter comment \"managed by recidivist\" }",
				"chain input { type filter hook input priority filter - 10; policy accept;",
				"ip saddr @v4 counter packets 0 bytes 0 drop comment \"recidivist v4 drop\"",
				"ip6 saddr @v6 counter packets 0 bytes 0 drop comment \"recidivist v6 drop\"",
			},
		},
		{
			name: "reject_some_ports_on_input_and_docker_user",
			cfg:  ipsetstore.Config{SetName: "bl", Chains: []string{"INPUT", "DOCKER-USER"}, Target: "REJECT", Ports: "tcp:22,1000:2000", MaxElem: 4096},
			want: []string{
				"table inet bl {",
				"size 4096",
				"chain forward { type filter hook forward priority filter - 10; policy accept;",
				"ip saddr @v4 tcp dport { 22, 1000-2000 } counter packets 0 bytes 0 reject with icmpx admin-prohibited comment \"recidivist v4 reject tcp:22,1000:2000\"",
				"ip6 saddr @v6 tcp dport { 22, 1000-2000 } counter packets 0 bytes 0 reject with icmpx admin-prohibited",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t, c.cfg)
			for range 3 {
				if _, err := s.Ensure(); err != nil {
					t.Fatalf("Ensure: %v", err)
				}
			}
			got := squash(nft(t, "list", "table", "inet", c.cfg.SetName))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("nft list table lacks %q; it shows:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "saddr @v4"); n != len(c.cfg.Chains) {
				t.Errorf("%d v4 rules, want one per base chain:\n%s", n, got)
			}
		})
	}
}

func TestElementsCarryTimeoutCommentAndCounter(t *testing.T) {
	s := newStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	if _, err := s.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if err := s.Add(ipsetstore.Entry{Prefix: pfx("198.51.100.0/24"), Comment: "range n=5", Timeout: time.Hour}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	got := squash(nft(t, "list", "set", "inet", "recidivist", "v4"))
	for _, w := range []string{"198.51.100.0/24 counter packets 0 bytes 0 timeout 1h expires", `comment "range n=5"`} {
		if !strings.Contains(got, w) {
			t.Errorf("nft list set lacks %q; it shows:\n%s", w, got)
		}
	}
}

func TestARangeReplacesTheMembersItCoversAndAMemberOfARangeAddsNothing(t *testing.T) {
	s := newStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	if _, err := s.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for _, p := range []string{"10.0.0.2", "10.0.0.9", "10.0.1.1"} {
		if err := s.Add(ipsetstore.Entry{Prefix: pfx(p)}); err != nil {
			t.Fatalf("Add(%s): %v", p, err)
		}
	}
	if err := s.Add(ipsetstore.Entry{Prefix: pfx("10.0.0.0/24"), Comment: "net"}); err != nil {
		t.Fatalf("Add of the covering range: %v", err)
	}
	if err := s.Add(ipsetstore.Entry{Prefix: pfx("10.0.0.77")}); err != nil {
		t.Fatalf("Add of a member inside the range: %v", err)
	}
	es, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Prefix.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/24 10.0.1.1/32" {
		t.Fatalf("List = %v, want the range and the member outside it", got)
	}
}

func TestAChainNftablesCannotHookIsRefused(t *testing.T) {
	_, err := nftstore.New(ipsetstore.Config{SetName: "recidivist", Chains: []string{"f2b-sshd"}, Target: "DROP"})
	if err == nil || !strings.Contains(err.Error(), "f2b-sshd") {
		t.Fatalf("New with chain f2b-sshd = %v, want an error naming it", err)
	}
}

func TestReplaceOfManyEntriesSpansManyMessagesInOneTransaction(t *testing.T) {
	s := newStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP", MaxElem: 30000})
	es := make([]ipsetstore.Entry, 20000)
	for i := range es {
		es[i] = ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32), Comment: strings.Repeat("c", 300)}
	}
	var heard int
	if err := s.Replace(es, func(n int) { heard += n }); err != nil {
		t.Fatalf("Replace of 20000: %v", err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(es) || heard != len(es) {
		t.Fatalf("List holds %d entries and progress heard %d, want %d", len(got), heard, len(es))
	}
	if c := got[0].Comment; len(c) != 128 {
		t.Errorf("a 300-byte comment lists as %d bytes, want the 128 nft can read back", len(c))
	}
	if err := s.Replace(append(es, es[0]), nil); err != nil { // a repeated entry is no overlap
		t.Fatalf("Replace with a repeated entry: %v", err)
	}
}

func TestEachEntryCountsThePacketsItDropped(t *testing.T) {
	s := newStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	if _, err := s.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for _, p := range []string{"127.0.0.2", "127.0.1.0/24"} {
		if err := s.Add(ipsetstore.Entry{Prefix: pfx(p)}); err != nil {
			t.Fatalf("Add(%s): %v", p, err)
		}
	}
	send := func(src string, n int) {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9")))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range n {
			c.Write([]byte("probe")) //nolint:errcheck // dropped on input: what is counted
		}
	}
	send("127.0.0.2", 3)
	send("127.0.1.7", 2)
	got, err := s.ListCounted()
	if err != nil {
		t.Fatalf("ListCounted: %v", err)
	}
	want := map[netip.Prefix]uint64{pfx("127.0.0.2"): 3, pfx("127.0.1.0/24"): 2}
	if len(got) != len(want) {
		t.Fatalf("ListCounted = %+v, want %v", got, want)
	}
	for _, e := range got {
		if e.Packets != want[e.Prefix] || e.Bytes == 0 {
			t.Errorf("%s counted %d packets, %d bytes; want %d packets", e.Prefix, e.Packets, e.Bytes, want[e.Prefix])
		}
	}
}
