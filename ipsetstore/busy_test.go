package ipsetstore_test

import (
	"net/netip"
	"os/exec"
	"syscall"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
)

// While another process lists a set (ipset list, a monitoring agent, our
// own status) the kernel refuses to swap or destroy it with EBUSY. A
// restore or a daemon's start that meets such a listing must wait it out,
// not fail: under systemd a failed start is a restart loop, and for
// `restore` at boot a fail-open.
func TestReplaceWaitsOutAnotherProcessListingTheSets(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	mustEnsure(t, s)
	var es []ipsetstore.Entry
	for i := range 5000 {
		es = append(es, ipsetstore.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 32)})
	}
	if err := s.Replace(es, nil); err != nil {
		t.Fatalf("first Replace: %v", err)
	}
	// Started from this goroutine, so in the test's namespace.
	lister := exec.Command("sh", "-c", "while :; do ipset list >/dev/null 2>&1; done")
	if err := lister.Start(); err != nil {
		t.Fatalf("starting the lister: %v", err)
	}
	t.Cleanup(func() {
		lister.Process.Signal(syscall.SIGKILL) //nolint:errcheck // it may be gone; Wait says so
		lister.Wait()                          //nolint:errcheck // killed on purpose
	})
	for round := range 10 {
		if err := s.Replace(es, nil); err != nil {
			t.Fatalf("Replace %d while another process lists the sets: %v", round, err)
		}
	}
}
