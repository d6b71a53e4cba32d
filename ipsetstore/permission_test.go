package ipsetstore_test

import (
	"errors"
	"testing"

	"github.com/recidivist/recidivist/ipsetstore"
	"golang.org/x/sys/unix"
)

// TestWithoutCapNetAdminTheErrorIsErrNotPermitted drops CAP_NET_ADMIN from
// the effective set of the test's (locked) thread: capabilities are per
// thread, and netfilter checks the sender's.
func TestWithoutCapNetAdminTheErrorIsErrNotPermitted(t *testing.T) {
	s := newKernelStore(t, ipsetstore.Config{SetName: "recidivist", Chains: []string{"INPUT"}, Target: "DROP"})
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	saved := caps
	caps[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		t.Fatalf("capset dropping CAP_NET_ADMIN: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			t.Errorf("capset restoring CAP_NET_ADMIN: %v", err)
		}
	})
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Ensure", func() error { _, err := s.Ensure(); return err }},
		{"Add", func() error { return s.Add(ipsetstore.Entry{Prefix: pfx("192.0.2.1")}) }},
		{"List", func() error { _, err := s.List(); return err }},
	} {
		if err := c.call(); !errors.Is(err, ipsetstore.ErrNotPermitted) {
			t.Errorf("%s without CAP_NET_ADMIN = %v, want ErrNotPermitted", c.name, err)
		}
	}
}
