// Package netnstest gives tests a fresh network namespace to change
// firewalls, ipsets and links in, so that they never touch the host's.
//
// Tests that need it skip when not run as root, except when the environment
// says CI=true: there they fail, so that a CI run cannot pass by skipping.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/recidivist/recidivist/internal/testenv"
)

// RequireRoot skips t when not root, or fails it when CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "this test needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create a network namespace; run it with sudo")
	}
}

// Enter locks the calling goroutine to its OS thread and moves that thread
// into a new network namespace with its loopback up. t.Cleanup moves the
// thread back and closes the namespace, which the kernel then removes with
// everything in it. Everything the test does from this goroutine (sockets,
// netlink handles, exec of iptables) happens inside; goroutines it starts
// do not — nor do subtests (t.Run runs them on other goroutines): create
// sockets and listeners before t.Run, or use InNamespace.
func Enter(t testing.TB) netns.NsHandle {
	t.Helper()
	RequireRoot(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting the current network namespace: %v", err)
	}
	ns, err := netns.New() // also switches this thread into it
	if err != nil {
		orig.Close() //nolint:errcheck // the New error is the one to report
		runtime.UnlockOSThread()
		t.Fatalf("creating a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with the goroutine: it
			// must not serve other goroutines from the wrong namespace.
			t.Errorf("returning to the original network namespace: %v", err)
			return
		}
		orig.Close() //nolint:errcheck // a handle on /proc; nothing to recover
		ns.Close()   //nolint:errcheck // the last reference goes; the kernel removes the namespace
		runtime.UnlockOSThread()
	})
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("finding lo in the new namespace: %v", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatalf("bringing lo up in the new namespace: %v", err)
	}
	return ns
}
