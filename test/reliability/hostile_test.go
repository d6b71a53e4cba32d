package reliability

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// testHostileLines writes lines an attacker or a crash can leave in the
// log and checks that only what is well formed counts, and that no good
// line is lost behind a bad one.
func testHostileLines(t *testing.T) {
	var (
		forged  = netip.MustParseAddr("192.0.2.21") // one real ban, three without a timestamp
		zeroed  = netip.MustParseAddr("192.0.2.22") // third ban right after a NUL block
		badUTF8 = netip.MustParseAddr("192.0.2.23") // third ban in a jail of invalid UTF-8
		next    = netip.MustParseAddr("192.0.2.24") // third ban on the line after that
		endless = netip.MustParseAddr("192.0.2.25") // third ban after a 16 MiB line
	)
	r := newRig(t, "lines", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	r.start()
	r.ready()

	now := time.Now()
	appendLines(t, r.log,
		e2etest.BanLine(now, "sshd", forged),
		e2etest.BanLine(now, "sshd", zeroed), e2etest.BanLine(now, "postfix-sasl", zeroed),
		e2etest.BanLine(now, "sshd", badUTF8), e2etest.BanLine(now, "postfix-sasl", badUTF8),
		e2etest.BanLine(now, "sshd", next), e2etest.BanLine(now, "postfix-sasl", next),
		e2etest.BanLine(now, "sshd", endless), e2etest.BanLine(now, "postfix-sasl", endless),
	)
	// Item 8: a line with no timestamp of its own (fail2ban's continuation
	// lines look so) never counts.
	noStamp := fmt.Sprintf("    %-24s[%d]: %-7s [sshd] Ban %s", "fail2ban.actions", e2etest.F2BPID, "NOTICE", forged)
	appendLines(t, r.log, noStamp, noStamp, noStamp)
	// Item 10: a crash leaves a block of NULs where the tail was; the
	// next record is written right after it.
	if err := appendRaw(r.log, strings.Repeat("\x00", 4096)+e2etest.BanLine(time.Now(), "nginx-http-auth", zeroed)+"\n"); err != nil {
		t.Fatal(err)
	}
	// Item 10: invalid UTF-8 in the jail: skipped, the next line counts.
	appendLines(t, r.log,
		e2etest.ActionLine(time.Now(), "[ngi\xffnx] Ban "+badUTF8.String()),
		e2etest.BanLine(time.Now(), "nginx-http-auth", next))
	// Item 9: an endless line (16 MiB without a newline), then a good one.
	if err := appendRaw(r.log, strings.Repeat("A", 16<<20)+"\n"+e2etest.BanLine(time.Now(), "nginx-http-auth", endless)+"\n"); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.alive()

	want := map[netip.Prefix]string{}
	for _, a := range []netip.Addr{zeroed, next, endless} {
		want[netip.PrefixFrom(a, 32)] = offenderJails
	}
	v := r.judge(want)
	t.Logf("after the hostile lines: %v", v)
	if !v.ok() {
		t.Errorf("hostile lines: %v\n(want blocked: %s after a NUL block, %s on the line after invalid UTF-8, %s after a 16 MiB line; want not blocked: %s with three Ban lines lacking a timestamp, %s whose third ban names an invalid UTF-8 jail)\n%s",
			v, zeroed, next, endless, forged, badUTF8, r.d.tail(20))
	}
	scanned, diff := r.scanAgrees(want, r.log)
	if len(diff) > 0 {
		t.Errorf("scan of the hostile log disagrees:\n\t%s", first(diff, 10))
	}

	// Item 9: an endless stream without newlines must not hold scan past
	// SIGTERM.
	sc := start(t, r.bin, "scan", "--config", r.conf, "/dev/zero")
	time.Sleep(time.Second) // let it get deep into the read; what follows is a condition with a deadline
	began := time.Now()
	termErr := sc.term() // any exit status will do; staying is the fault
	stopped := time.Since(began)
	if stopped >= 10*time.Second {
		t.Errorf("scan /dev/zero still ran 10s after SIGTERM (item 9): %v", termErr)
	}
	r.alive()

	// Item 9: nor the daemon, and it must keep its state: `run --log
	// /dev/zero` either refuses at once or stops on SIGTERM; the next start
	// over the real log decides exactly as before.
	r.stop()
	r.logArg = "/dev/zero"
	r.start()
	_, _ = waitFor(3*time.Second, func() (bool, error) { return r.d.exited(), nil }) // refusing at once is fine too
	daemonStopped := "refused at start"
	if !r.d.exited() {
		began := time.Now()
		termErr := r.d.term()
		took := time.Since(began)
		daemonStopped = "stopped " + took.Round(time.Millisecond).String() + " after SIGTERM"
		if took >= 10*time.Second {
			t.Errorf("run --log /dev/zero still ran 10s after SIGTERM (item 9): %v", termErr)
		}
	}
	r.logArg = r.log
	r.start()
	r.sync()
	if v := r.judge(want); !v.ok() {
		t.Errorf("a start over the real log after run --log /dev/zero (a changed log setting must not count its lines again, item 3; the state must survive, item 9): %v", v)
	}
	t.Logf("reliability: hostile lines: %d blocked of 3 well-formed offenders (scan: %d), %d wrong (forged/invalid), %d missed; scan /dev/zero stopped %v after SIGTERM; run --log /dev/zero %s",
		v.want-v.missed, scanned, v.wrong, v.missed, stopped.Round(time.Millisecond), daemonStopped)
}

// testHostileMirrors puts lines in the mirror that the refusal policy must
// keep out of the kernel (items 1, 2), and a symlink where the mirror should
// be (item 6).
func testHostileMirrors(t *testing.T) {
	r := newRig(t, "mirror", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "2s"}
	// In the config file, which every command reads (restore has no
	// --ignore flag).
	if err := os.WriteFile(r.conf, []byte("ignore = [\"192.0.2.128/25\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := []string{ // item 1
		"127.0.0.1 localhost", // a hosts-style line, as an ip.blocklist import brings
		"127.0.0.0/8",
		"::1",
		"0.0.0.0",
		"255.255.255.255",
		"224.0.0.1",
		"10.0.0.0/8",  // wider than /16 without the mark ban --force writes
		"192.0.2.200", // in the configured ignore list
	}
	everything := []string{"0.0.0.0/0", "::/0"} // item 2
	lines := append(append([]string{"192.0.2.10 # good"}, refused...), "2001:db8::10 # good")
	if err := os.MkdirAll(r.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.mirrorPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := map[netip.Prefix]bool{netip.MustParsePrefix("192.0.2.10/32"): true, netip.MustParsePrefix("2001:db8::10/128"): true}
	type figures struct{ inForce, goodMissing, loopback int }
	var total figures
	// check fails t for every kernel entry that is not a good line, every
	// good line not in force, and a loopback that cannot be reached.
	check := func(when string) {
		t.Helper()
		k, err := r.ns.kernel(r.set)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		for _, p := range sortedKeys(k) {
			if !good[p] && !r.markers[p] {
				total.inForce++
				t.Errorf("%s: %s is in the kernel set, want it refused", when, p)
			}
		}
		for _, p := range sortedKeys(good) {
			if !k[p] {
				total.goodMissing++
				t.Errorf("%s: good mirror line %s is not in the kernel set", when, p)
			}
		}
		if err := r.ns.loopbackReachable(); err != nil {
			total.loopback++
			t.Errorf("%s: loopback blocked: %v", when, err)
		}
	}
	// restore reports every refused line with file:line.
	type mirrorLine struct {
		text string
		n    int
	}
	restore := func(when string, lineNos []mirrorLine) {
		t.Helper()
		res := r.command("restore")
		if res.code != 0 {
			t.Errorf("%s: restore: exit %d, want 0 (refused lines skipped):\n%s", when, res.code, res.stderr)
		}
		for _, l := range lineNos {
			if at := fmt.Sprintf("%s:%d", r.mirrorPath(), l.n); !strings.Contains(res.stderr, at) {
				t.Errorf("%s: restore does not report the refused line %q as %s", when, l.text, at)
			}
		}
		check(when)
	}
	var lineNos []mirrorLine
	for i, l := range refused {
		lineNos = append(lineNos, mirrorLine{l, i + 2})
	}

	// Item 1 at boot and at start.
	restore("restore at boot", lineNos)
	r.start()
	if err := r.trySync(); err != nil {
		total.goodMissing += len(good)
		t.Errorf("run with refused mirror lines does not follow the log (item 1): %v", err)
	} else {
		check("after run started")
	}

	// Item 2, live: 0.0.0.0/0 and ::/0 added by hand next to a good line.
	added := netip.MustParsePrefix("192.0.2.11/32")
	good[added] = true
	lines = append(append(lines, everything...), "192.0.2.11 # added by hand")
	if err := writeAtomic(r.mirrorPath(), strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	applied, err := waitFor(30*time.Second, func() (bool, error) {
		if r.d.exited() {
			return false, fmt.Errorf("%w: the daemon exited (%v)", errGiveUp, r.d.err)
		}
		k, err := r.ns.kernel(r.set)
		return k[added], err
	})
	appliedIn := applied.Round(time.Millisecond).String()
	if err != nil {
		appliedIn = "never"
		t.Errorf("a good line added by hand next to 0.0.0.0/0 and ::/0 is not in force within 30s (item 2): %v\n%s", err, r.d.tail(10))
	}
	check("after a live hand edit adding 0.0.0.0/0 and ::/0")
	// A wide range is in force when its line carries the mark ban --force
	// writes (10.0.0.0/8 above, without it, is not).
	forced := netip.MustParsePrefix("172.16.0.0/12")
	if res := r.command("ban", "--force", forced.String()); res.code != 0 {
		t.Errorf("ban --force %s: exit %d: %s", forced, res.code, res.stderr)
	} else {
		good[forced] = true
		if _, err := waitFor(30*time.Second, func() (bool, error) {
			k, err := r.ns.kernel(r.set)
			return k[forced], err
		}); err != nil {
			t.Errorf("ban --force %s: not in the kernel set within 30s: %v", forced, err)
		}
		check("after ban --force of a wide range")
	}
	if r.d.exited() {
		t.Errorf("the daemon exited with 0.0.0.0/0 in the mirror (item 2): %v\n%s", r.d.err, r.d.tail(10))
	} else {
		r.stop()
	}

	// Item 2 at boot and at start: a reboot with 0.0.0.0/0 and ::/0 in the
	// mirror.
	r.ns.reboot(t)
	for i, l := range everything {
		lineNos = append(lineNos, mirrorLine{l, len(refused) + 3 + i})
	}
	restore("restore at boot with 0.0.0.0/0 and ::/0", lineNos)
	r.start()
	if err := r.trySync(); err != nil {
		total.goodMissing += len(good)
		t.Errorf("run with 0.0.0.0/0 and ::/0 in the mirror does not follow the log (item 2): %v", err)
	} else {
		check("after run started with 0.0.0.0/0 and ::/0 in the mirror")
	}
	if !r.d.exited() {
		r.stop()
	}

	// Item 6: a symlinked mirror is never written through.
	secret := filepath.Join(r.dir, "shadow")
	const secretText = "root:$6$notarealhash:19000:0:99999:7:::\n"
	if err := os.WriteFile(secret, []byte(secretText), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.mirrorPath()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, r.mirrorPath()); err != nil {
		t.Fatal(err)
	}
	ban := r.command("ban", "192.0.2.12")
	r.start()
	// A daemon that refuses exits at once; one that runs is stopped below.
	_, _ = waitFor(5*time.Second, func() (bool, error) { return r.d.exited(), nil })
	if !r.d.exited() {
		r.stop()
	}
	data, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(secret)
	if err != nil {
		t.Fatal(err)
	}
	symlinkOK := true
	if string(data) != secretText || st.Mode().Perm() != 0o640 {
		symlinkOK = false
		t.Errorf("the symlink's target was written through (item 6): mode %v, content %q; want mode 0640, content unchanged", st.Mode().Perm(), data)
	}
	if ban.code == 0 {
		symlinkOK = false
		t.Errorf("ban with a symlinked mirror: exit 0, want a refusal that names the fix (item 6)")
	}
	if out := ban.stderr + r.d.out.String(); strings.Contains(out, "notarealhash") {
		symlinkOK = false
		t.Errorf("the symlink target's content was logged verbatim (item 6): %s", first(grep(out, "notarealhash"), 3))
	}
	t.Logf("reliability: hostile mirrors: %d refused lines + 0.0.0.0/0 and ::/0 through restore, run, a live edit, ban --force and a reboot: %d refused entries in force, %d good entries missing, loopback blocked %d times; good hand edit applied: %s; symlinked mirror untouched: %v",
		len(refused), total.inForce, total.goodMissing, total.loopback, appliedIn, symlinkOK)
}

// writeAtomic replaces the file at path with data as an editor does.
func writeAtomic(path, data string) error {
	tmp := path + ".edit"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}
