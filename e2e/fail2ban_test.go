package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFail2ban_real_server_bans_count_once_each_and_its_restart_counts_nothing
// runs the real fail2ban-server and the built daemon in one throwaway
// namespace. Address A is banned by fail2ban in sshd, then in
// postfix-sasl, fail2ban restarts (Unban + Restore Ban lines), then sshd
// bans A again: recidivist must block A after that third genuine Ban and
// not before. B, banned twice, stays unblocked.
func TestFail2ban_real_server_bans_count_once_each_and_its_restart_counts_nothing(t *testing.T) {
	const (
		a   = "192.0.2.10"
		b   = "2001:db8::20"
		set = "rcdvf2b"
	)
	addrA, addrB := netip.MustParseAddr(a), netip.MustParseAddr(b)
	ns := newNamespace(t, "f2b")
	f := newFail2ban(t, ns)
	bin := binary(t)
	dir := t.TempDir()
	conf, state := filepath.Join(dir, "recidivist.toml"), filepath.Join(dir, "state")
	// The settings go in the config file: every command reads the same
	// ones, whatever flags it takes.
	settings := fmt.Sprintf("threshold = 3\nwindow = \"1h\"\nreconcile-interval = \"2s\"\nset-name = %q\nstate-dir = %q\n", set, state)
	if err := os.WriteFile(conf, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--config", conf}

	f.start(t)
	d := startIn(t, ns, bin, append([]string{"run", "--log", f.log, "--log-level", "debug"}, common...)...)
	eventually(t, time.Now(), 30*time.Second, "the daemon puts its rules in place", d, func() (bool, error) {
		d.alive(t)
		return rulesInPlace(ns, set)
	})
	// caughtUp waits until the daemon's saved checkpoint covers all of
	// fail2ban's log, then returns the tracked, unblocked addresses.
	caughtUp := func() map[string]int {
		t.Helper()
		eventually(t, time.Now(), 30*time.Second, "the daemon's checkpoint reaches the end of fail2ban's log", d, func() (bool, error) {
			fi, err := os.Stat(f.log)
			if err != nil {
				return false, err
			}
			var st struct {
				Watcher *struct {
					Logs []struct {
						Path   string `json:"path"`
						Offset int64  `json:"offset"`
					} `json:"logs"`
				} `json:"watcher"`
			}
			out := runIn(t, ns, bin, append([]string{"status", "--json"}, common...)...)
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return false, err
			}
			return st.Watcher != nil && len(st.Watcher.Logs) == 1 && st.Watcher.Logs[0].Offset == fi.Size(), nil
		})
		var offenders []struct {
			Address string `json:"address"`
			Bans    int    `json:"bans"`
		}
		out := runIn(t, ns, bin, append([]string{"offenders", "--json", "--top", "0"}, common...)...)
		if err := json.Unmarshal([]byte(out), &offenders); err != nil {
			t.Fatalf("offenders --json: %v\n%s", err, out)
		}
		m := map[string]int{}
		for _, o := range offenders {
			m[o.Address] = o.Bans
		}
		return m
	}
	twoBansEach := func(when string) {
		t.Helper()
		got := caughtUp()
		if got[a] != 2 || got[b] != 2 {
			t.Errorf("%s: offenders (not blocked) %v, want %s and %s with 2 bans each", when, got, a, b)
		}
		if inSet(t, ns, set, addrA) || inSet(t, ns, set, addrB) {
			t.Errorf("%s: A in set %v, B in set %v; want neither", when, inSet(t, ns, set, addrA), inSet(t, ns, set, addrB))
		}
		if m := mirrorEntries(t, filepath.Join(state, "blocklist")); len(m) != 0 {
			t.Errorf("%s: mirror %v, want empty", when, m)
		}
	}

	// First ban: sshd, for both.
	f.fail(t, "sshd", a, 2)
	f.fail(t, "sshd", b, 2)
	f.waitCount(t, "NOTICE  [sshd] Ban "+a, 1, waitF2B)
	f.waitCount(t, "NOTICE  [sshd] Ban "+b, 1, waitF2B)
	// Second ban: postfix-sasl, for both.
	f.fail(t, "postfix-sasl", a, 2)
	f.fail(t, "postfix-sasl", b, 2)
	f.waitCount(t, "NOTICE  [postfix-sasl] Ban "+a, 1, waitF2B)
	f.waitCount(t, "NOTICE  [postfix-sasl] Ban "+b, 1, waitF2B)
	twoBansEach("after the second ban")

	// sshd's bans end (an admin's unban: a ban time short enough to
	// expire during the test would also expire before a loaded fail2ban
	// reads the failure, and then it bans nothing); postfix-sasl's outlive
	// a restart of fail2ban, which unbans them at stop and restores them at
	// start.
	f.unban(t, "sshd", a, b)
	f.waitCount(t, "NOTICE  [sshd] Unban "+a, 1, waitF2B)
	f.waitCount(t, "NOTICE  [sshd] Unban "+b, 1, waitF2B)
	f.stop(t)
	f.start(t)
	f.waitCount(t, "NOTICE  [postfix-sasl] Restore Ban "+a, 1, waitF2B)
	f.waitCount(t, "NOTICE  [postfix-sasl] Restore Ban "+b, 1, waitF2B)
	if n := f.count(t, "NOTICE  [postfix-sasl] Unban "+a); n != 1 {
		t.Errorf("fail2ban logged %d postfix-sasl Unban lines for A at its restart, want 1", n)
	}
	twoBansEach("after fail2ban's restart")

	// Third genuine ban: sshd again, for A only.
	f.fail(t, "sshd", a, 2)
	f.waitCount(t, "NOTICE  [sshd] Ban "+a, 2, waitF2B)
	banned := time.Now()
	took := eventually(t, banned, 30*time.Second, "A in the set after its third Ban line", d, func() (bool, error) {
		return inSet(t, ns, set, addrA), nil
	})
	t.Logf("A in the set %v after the test saw fail2ban's third Ban line", took)
	checkMirrorEntry(t, filepath.Join(state, "blocklist"), addrA, 3, "postfix-sasl,sshd")
	if m := mirrorEntries(t, filepath.Join(state, "blocklist")); len(m) != 1 {
		t.Errorf("mirror %v, want A only", m)
	}
	if got := caughtUp(); got[b] != 2 || inSet(t, ns, set, addrB) {
		t.Errorf("B: %d bans tracked, in set %v; want 2 and not blocked", got[b], inSet(t, ns, set, addrB))
	}
	// fail2ban inserted its own jumps at the top of INPUT; the reconcile
	// puts recidivist's rule back above them, once.
	eventually(t, time.Now(), 30*time.Second, "the reconcile puts the rules back on top of fail2ban's", d, func() (bool, error) {
		return rulesOnTop(ns, set)
	})
	checkRules(t, ns, set, true)
	for _, six := range []bool{false, true} {
		rules, err := chainRules(ns, "INPUT", six)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(rules, func(r string) bool { return strings.HasSuffix(r, "-j f2b-postfix-sasl") }) {
			t.Errorf("INPUT (six=%v) lacks fail2ban's jump to f2b-postfix-sasl: %q; did fail2ban really act in the namespace?", six, rules)
		}
	}

	// The offline scan of the same log agrees: A with three bans, no B.
	var scan []struct {
		Address string   `json:"address"`
		Bans    int      `json:"bans"`
		Jails   []string `json:"jails"`
	}
	out := runIn(t, ns, bin, append([]string{"scan", "--json"}, append(common, f.log)...)...)
	if err := json.Unmarshal([]byte(out), &scan); err != nil {
		t.Fatalf("scan --json: %v\n%s", err, out)
	}
	if len(scan) != 1 || scan[0].Address != a || scan[0].Bans != 3 || !slices.Equal(scan[0].Jails, []string{"postfix-sasl", "sshd"}) {
		t.Errorf("scan --json of fail2ban's log: %+v, want only %s with 3 bans in postfix-sasl,sshd", scan, a)
	}
	d.term(t)
	f.stop(t)
}
