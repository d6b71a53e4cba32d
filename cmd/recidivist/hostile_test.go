package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/netnstest"
	"github.com/recidivist/recidivist/statedir"
)

// hostileMirror has good lines (1, 8, 10) among lines a person may add by
// hand or import (a hosts file, an old ip.blocklist) that must never reach
// the kernel: loopback, everything, non-unicast, an unmarked /8, an ignored
// address.
const hostileMirror = "198.51.100.7 # good\n" + // 1
	"127.0.0.1 localhost\n" + // 2
	"127.0.0.0/8\n" + // 3
	"::1\n" + // 4
	"0.0.0.0\n" + // 5
	"255.255.255.255\n" + // 6
	"224.0.0.1\n" + // 7
	"2001:db8:bad::/48 # good\n" + // 8
	"10.0.0.0/8\n" + // 9
	"203.0.113.0/24 # good\n" + // 10
	"192.0.2.50\n" + // 11: in the ignore list
	"0.0.0.0/0\n" + // 12
	"::/0\n" // 13

// TestRestore_of_a_hostile_mirror_loads_the_good_lines_and_loopback_stays_reachable
// restores, in a fresh network namespace, a mirror with every kind of line
// the policy refuses: restore succeeds, the sets hold exactly the good lines,
// each refused line is reported with file:line, and a TCP connection to a
// listener on 127.0.0.1 still gets through.
func TestRestore_of_a_hostile_mirror_loads_the_good_lines_and_loopback_stays_reachable(t *testing.T) {
	netnstest.Enter(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	path := statedir.Mirror(state)
	if err := os.WriteFile(path, []byte(hostileMirror), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := invoke(t, "restore", "--state-dir", state, "--set-name", "rcdvhostile", "--ignore", "192.0.2.50")
	if code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	want := []string{"198.51.100.7/32", "2001:db8:bad::/48", "203.0.113.0/24"}
	if got := kernelSet(t, "rcdvhostile"); !slices.Equal(got, want) {
		t.Errorf("sets after restore = %v, want exactly the good lines %v", got, want)
	}
	for _, n := range []int{2, 3, 4, 5, 6, 7, 9, 11, 12, 13} {
		if !strings.Contains(errOut, fmt.Sprintf("%s:%d: ", path, n)) {
			t.Errorf("refused line %d is not reported:\n%s", n, errOut)
		}
	}
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("connecting to a listener on 127.0.0.1 after restore: %v", err)
	}
	conn.Close()
}

// TestBan_force_marks_its_line_so_that_restore_keeps_the_range: a wide range
// banned with --force stays in force through the mirror, and the unmarked
// hand-written line of the same range gives way to it.
func TestBan_force_marks_its_line_so_that_restore_keeps_the_range(t *testing.T) {
	netnstest.Enter(t)
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	path := statedir.Mirror(state)
	if err := os.WriteFile(path, []byte("10.0.0.0/8 # imported\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--state-dir", state, "--set-name", "rcdvforce"}
	if code, out, errOut := invoke(t, append([]string{"ban", "--force", "10.0.0.0/8"}, common...)...); code != 0 || out != "banned 10.0.0.0/8\n" {
		t.Fatalf("ban --force: exit %d, %q, %q", code, out, errOut)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "10.0.0.0/8 # recidivist ") || !strings.Contains(lines[0], " manual force") {
		t.Errorf("mirror after ban --force = %q, want one line with the force mark", b)
	}
	if code, _, errOut := invoke(t, append([]string{"restore"}, common...)...); code != 0 || strings.Contains(errOut, "10.0.0.0/8") {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := kernelSet(t, "rcdvforce"); !slices.Equal(got, []string{"10.0.0.0/8"}) {
		t.Errorf("sets after restore = %v, want the forced range", got)
	}
}

// TestCommands_refuse_a_symlinked_mirror: ban and restore never read or
// write through a link in place of the mirror (or its lock), and say what to
// do. The cases run in this goroutine, not as subtests: they must stay in the
// namespace Enter made.
func TestCommands_refuse_a_symlinked_mirror(t *testing.T) {
	netnstest.Enter(t)
	for _, name := range []string{"blocklist", "blocklist.lock"} {
		for _, cmd := range [][]string{{"ban", "192.0.2.1"}, {"restore"}, {"unban", "192.0.2.1"}} {
			if name == "blocklist.lock" && cmd[0] == "restore" {
				continue // restore only reads: it takes no lock
			}
			func() {
				what := name + " " + cmd[0]
				state := filepath.Join(t.TempDir(), "state")
				if err := os.Mkdir(state, 0o700); err != nil {
					t.Fatal(err)
				}
				if name == "blocklist.lock" {
					if err := os.WriteFile(statedir.Mirror(state), []byte("192.0.2.1\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				const secret = "root:$y$j9T$secret:19000:0:99999:7:::\n"
				target := filepath.Join(t.TempDir(), "shadow")
				if err := os.WriteFile(target, []byte(secret), 0o640); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(state, name)
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				code, _, errOut := invoke(t, append(cmd, "--state-dir", state, "--set-name", "rcdvlink")...)
				if code != 1 || !strings.Contains(errOut, "symbolic link") || !strings.Contains(errOut, "rm "+link) {
					t.Errorf("%s: exit %d, stderr %q; want 1 and the link named with the fix", what, code, errOut)
				}
				if strings.Contains(errOut, "secret") {
					t.Errorf("%s: the target's content leaked: %q", what, errOut)
				}
				fi, err := os.Stat(target)
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(target); string(b) != secret || fi.Mode().Perm() != 0o640 {
					t.Errorf("%s: the target changed: mode %v, %q", what, fi.Mode().Perm(), b)
				}
			}()
		}
	}
}

func TestList_summarizes_a_mirror_of_many_bad_lines(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statedir.Mirror(state), []byte(strings.Repeat("not-an-address\n", 100)+"198.51.100.7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := invoke(t, "list", "--state-dir", state)
	if code != 0 || !strings.Contains(out, "198.51.100.7") {
		t.Fatalf("list: exit %d, %q, %q", code, out, errOut)
	}
	if n := strings.Count(errOut, "skipping bad line"); n > blocklist.ReportLines {
		t.Errorf("%d bad lines reported one by one, want at most %d", n, blocklist.ReportLines)
	}
	if !strings.Contains(errOut, "80 more") || !strings.Contains(errOut, "recidivist check") {
		t.Errorf("the rest is not summarized: %q", errOut)
	}
}
