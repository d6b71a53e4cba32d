package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDaemon_idle_unblock_keeps_the_block_that_is_hit_removes_the_silent_one_and_a_reboot_ages_nothing
// runs the built daemon with a 1 s hit-sample-interval and a 12 s
// idle-unblock. One blocked client keeps sending (its SYNs are dropped and
// counted), the other stays silent. A reboot of the namespaces (sets gone,
// counters from 0, `restore`, a new daemon) after the silent block has
// been watched for ~6 s and the daemon down for ~10 s more must unblock
// nothing; then, watched idle for 12 s, the silent block goes, and only it.
func TestDaemon_idle_unblock_keeps_the_block_that_is_hit_removes_the_silent_one_and_a_reboot_ages_nothing(t *testing.T) {
	idleUnblockByRealPackets(t, "ipset")
}

// TestDaemon_idle_unblock_by_real_packets_with_nftables is the same with
// the nftables backend's per-element counters.
func TestDaemon_idle_unblock_by_real_packets_with_nftables(t *testing.T) {
	idleUnblockByRealPackets(t, "nftables")
}

func idleUnblockByRealPackets(t *testing.T, backend string) {
	var (
		srv4, srv6 = netip.MustParseAddr("10.232.0.1"), netip.MustParseAddr("fd00:e3e::1")
		active     = netip.MustParseAddr("10.232.0.10")
		silent     = netip.MustParseAddr("10.232.0.20")
	)
	const idle = 12 * time.Second
	tag := map[string]string{"ipset": "idle", "nftables": "idlenft"}[backend]
	r := newRig(t, tag, srv4, srv6, []netip.Addr{active, silent},
		"--threshold", "3", "--hit-sample-interval", "1s", "--idle-unblock", idle.String(), "--backend", backend)
	blocked := func(a netip.Addr) (bool, error) {
		if backend == "nftables" {
			return nftSetHas(r.tp.srv, r.set, a)
		}
		return setHas(r.tp.srv, r.set, a)
	}
	r.startDaemon()
	eventually(t, time.Now(), 30*time.Second, "the daemon creates its sets and rules", r.d, func() (bool, error) {
		r.d.alive(t)
		if backend == "nftables" {
			_, err := nftSetHas(r.tp.srv, r.set, active)
			return err == nil, nil
		}
		if _, err := setMembers(r.tp.srv, r.set); err != nil {
			return false, nil
		}
		return rulesInPlace(r.tp.srv, r.set)
	})
	for _, a := range []netip.Addr{active, silent} {
		if err := dial(r.tp.cli, a, srv4, r.srv.port, 2*time.Second); err != nil {
			t.Fatalf("%s cannot connect before any ban: %v", a, err)
		}
	}
	now := time.Now()
	start := appendLines(t, r.log,
		banLine(now, "sshd", active), banLine(now, "sshd", active), banLine(now, "sshd", active),
		banLine(now, "sshd", silent), banLine(now, "sshd", silent), banLine(now, "sshd", silent))
	eventually(t, start, 30*time.Second, "both offenders blocked", r.d, func() (bool, error) {
		a, err := blocked(active)
		if err != nil || !a {
			return false, nil
		}
		return blocked(silent)
	})

	// The active client knocks every 300 ms for the rest of the test,
	// across the reboot (errors while the namespaces are remade are
	// expected and ignored).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			dial(r.tp.cli, active, srv4, r.srv.port, 200*time.Millisecond) //nolint:errcheck // a dropped SYN is the point; errors during the reboot do not matter
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(idle / 2)
	r.reboot()
	time.Sleep(idle - idle/4) // down longer than what is left of idle-unblock
	r.command("restore", "--backend", backend)
	restarted := time.Now()
	r.startDaemon()
	// Time before the restart must not count: the silent block cannot go
	// before the restarted daemon has watched it idle for 12 s.
	for time.Since(restarted) < idle/2 {
		in, err := blocked(silent)
		if err != nil {
			t.Fatal(err)
		}
		if !in || !strings.Contains(r.command("list"), silent.String()) {
			t.Fatalf("the silent block was unblocked %v after the restart: the reboot or the time the daemon was down aged it\n%s", time.Since(restarted), r.d.out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	eventually(t, restarted, 90*time.Second, "the silent block unblocked as idle", r.d, func() (bool, error) {
		in, err := blocked(silent)
		return !in, err
	})
	r.checkMirrorLacks(silent)
	if err := dial(r.tp.cli, silent, srv4, r.srv.port, 2*time.Second); err != nil {
		t.Errorf("the unblocked silent client cannot connect: %v", err)
	}
	if !strings.Contains(r.d.out.String(), "reason=idle") {
		t.Errorf("no idle unblock logged with reason=idle:\n%s", r.d.out)
	}
	if in, err := blocked(active); err != nil || !in {
		t.Fatalf("the block that keeps being hit was removed (%v)\n%s", err, r.d.out)
	}
	r.checkMirror(active, 3, "sshd")
	if err := dial(r.tp.cli, active, srv4, r.srv.port, 300*time.Millisecond); !errors.Is(err, errDropped) {
		t.Errorf("the active client: %v, want it still dropped", err)
	}

	var listed []struct {
		Address string     `json:"address"`
		Packets uint64     `json:"packets"`
		LastHit *time.Time `json:"last_hit"`
	}
	if err := json.Unmarshal([]byte(r.command("list", "--json", "--backend", backend)), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Address != active.String() || listed[0].Packets == 0 || listed[0].LastHit == nil {
		t.Errorf("list --json = %+v, want only %s with packets and a last hit", listed, active)
	}
}

// nftSetHas reports whether the IPv4 set of the nftables table inet
// table in namespace ns holds a (as an element of its own).
func nftSetHas(ns, table string, a netip.Addr) (bool, error) {
	out, err := exec.Command("ip", inNS(ns, "nft", "list", "set", "inet", table, "v4")...).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("nft list set inet %s v4 in %s: %w: %s", table, ns, err, out)
	}
	return regexp.MustCompile(`[\s{,]` + regexp.QuoteMeta(a.String()) + `[\s,}]`).Match(out), nil
}
