package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigMirror is how many entries the mirror holds before the test begins.
const bigMirror = 5000

// TestUnban_right_after_ban_takes_the_address_out_and_it_stays_out_while_the_daemon_is_busy
// runs ban then unban of the built binary, pair after pair, against a
// running daemon that a stream of Ban lines keeps busy blocking offenders
// (each block writes the mirror, and a ban or unban sets off a reconcile).
// Once unban returns the address must be out of the kernel set, and still
// out after the daemon has had time to act on every change.
func TestUnban_right_after_ban_takes_the_address_out_and_it_stays_out_while_the_daemon_is_busy(t *testing.T) {
	ns := newNamespace(t, "unban")
	bin := binary(t)
	dir := t.TempDir()
	conf, log, state, set := filepath.Join(dir, "recidivist.toml"), filepath.Join(dir, "fail2ban.log"), filepath.Join(dir, "state"), "rcdvunban"
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A mirror of some size, so that each reconcile takes a while.
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	var mirror strings.Builder
	for i := range bigMirror {
		fmt.Fprintf(&mirror, "10.200.%d.%d\n", i>>8, i&255)
	}
	if err := os.WriteFile(filepath.Join(state, "blocklist"), []byte(mirror.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--config", conf, "--state-dir", state, "--set-name", set}
	d := startIn(t, ns, bin, append(append([]string{"run"}, common...),
		"--log", log, "--threshold", "3", "--window", "1w", "--reconcile-interval", "10m", "--chain", "INPUT", "--log-level", "warn")...)
	eventually(t, time.Now(), 30*time.Second, "the daemon's sets exist", d, func() (bool, error) {
		_, err := setMembers(ns, set)
		return err == nil, nil
	})

	// The stream: three bans of a new address every 40 ms, with gaps in which a reconcile starts.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			a := netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)})
			now := time.Now()
			appendLines(t, log, banLine(now, "sshd", a), banLine(now, "postfix", a), banLine(now, "sshd", a))
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	const pairs = 80
	var unbanned []netip.Addr
	var failures []string
	for i := range pairs {
		a := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(i%250 + 1)})
		// Pauses of 0 to 48 ms: the reconcile the last unban set off
		// (30 ms later) then starts at every point of the next pair.
		time.Sleep(time.Duration(i%7) * 8 * time.Millisecond)
		runIn(t, ns, bin, append(append([]string{"ban"}, common...), a.String())...)
		runIn(t, ns, bin, append(append([]string{"unban"}, common...), a.String())...)
		if inSet(t, ns, set, a) {
			failures = append(failures, fmt.Sprintf("%s in the set right after unban returned (pair %d)", a, i+1))
		}
		unbanned = append(unbanned, a)
	}
	// Longer than the reconcile's debounce and a reconcile of a few
	// hundred entries, many times over.
	time.Sleep(2 * time.Second)
	for _, a := range unbanned {
		if inSet(t, ns, set, a) {
			failures = append(failures, fmt.Sprintf("%s back in the set 2s after its unban", a))
		}
	}
	d.alive(t)
	if len(failures) > 0 {
		t.Errorf("%d failures in %d ban/unban pairs:\n%v", len(failures), pairs, failures)
	}
}
