package ipsetstore

import (
	"os/exec"
	"testing"

	"github.com/recidivist/recidivist/internal/netnstest"
)

// iptables-nft prints nothing and exits 0 for `-S CHAIN N` past the
// chain's end; go-iptables' own ListById then indexes an empty list and
// panics. That happens when the chain shrinks between deleteCopies' listing
// and its read-back (another program deleting a rule): recidivist ban
// panicked so once. The read of one rule must say there is none instead.
func TestListById_past_the_end_of_the_chain_is_an_error_not_a_panic(t *testing.T) {
	netnstest.Enter(t)
	if out, err := exec.Command("iptables", "-A", "INPUT", "-j", "ACCEPT").CombinedOutput(); err != nil {
		t.Fatalf("iptables -A: %v: %s", err, out)
	}
	s, err := New(Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	if err != nil {
		t.Fatal(err)
	}
	ipt, err := s.iptablesFor(IPv4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ipt.ListById(table, "INPUT", 1)
	if err != nil || got != "-A INPUT -j ACCEPT" {
		t.Fatalf("ListById(1) = %q, %v; want the one rule", got, err)
	}
	for _, pos := range []int{2, 5} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("ListById(%d) panicked: %v", pos, r)
				}
			}()
			if got, err := ipt.ListById(table, "INPUT", pos); err == nil {
				t.Errorf("ListById(%d) = %q, nil; want an error: the chain has one rule", pos, got)
			}
		}()
	}
}
