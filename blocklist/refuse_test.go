package blocklist_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

// TestLoadRefusesMirrorLinesThePolicyRefuses: a line typed or imported into
// the mirror reaches the kernel only if the policy would let ban block it;
// each refused line is reported with its line, reason and fix, and every good
// line stays in force.
func TestLoadRefusesMirrorLinesThePolicyRefuses(t *testing.T) {
	policy := blocklist.Policy{Ignore: []netip.Prefix{pfx("192.0.2.50/32"), pfx("2001:db8:50::/48")}}
	tests := []struct {
		name string
		line string
		want error // nil: in force
	}{
		{"a_hosts_style_loopback_line_is_refused", "127.0.0.1 localhost", blocklist.ErrIgnored},
		{"the_loopback_range_is_refused", "127.0.0.0/8", blocklist.ErrIgnored},
		{"ipv6_loopback_is_refused", "::1", blocklist.ErrIgnored},
		{"the_unspecified_address_is_refused", "0.0.0.0", blocklist.ErrNotUnicast},
		{"the_ipv6_unspecified_address_is_refused", "::", blocklist.ErrNotUnicast},
		{"broadcast_is_refused", "255.255.255.255", blocklist.ErrNotUnicast},
		{"multicast_is_refused", "224.0.0.1", blocklist.ErrNotUnicast},
		{"ipv6_multicast_is_refused", "ff02::1", blocklist.ErrNotUnicast},
		{"a_slash_8_without_the_force_mark_is_refused", "10.0.0.0/8", blocklist.ErrTooWide},
		{"an_ipv6_slash_16_without_the_force_mark_is_refused", "3fff::/16", blocklist.ErrTooWide},
		{"a_hand_comment_saying_force_is_not_the_mark", "10.0.0.0/8 # force", blocklist.ErrTooWide},
		{"a_slash_8_with_the_force_mark_is_in_force", "10.0.0.0/8 # recidivist force", nil},
		{"the_line_ban_force_writes_is_in_force", "10.0.0.0/8 # recidivist 2026-11-24T13:55:51Z manual force big hoster", nil},
		{"an_ipv6_slash_16_with_the_force_mark_is_in_force", "3fff::/16 # recidivist force", nil},
		{"all_of_ipv4_is_refused", "0.0.0.0/0", blocklist.ErrEverything},
		{"all_of_ipv6_is_refused", "::/0", blocklist.ErrEverything},
		{"all_of_ipv4_is_refused_even_with_the_force_mark", "0.0.0.0/0 # recidivist force", blocklist.ErrEverything},
		{"all_of_ipv6_is_refused_even_with_the_force_mark", "::/0 # recidivist force", blocklist.ErrEverything},
		{"an_ignored_address_is_refused", "192.0.2.50", blocklist.ErrIgnored},
		{"a_range_holding_an_ignored_address_is_refused", "192.0.2.0/24 # recidivist force", blocklist.ErrIgnored},
		{"an_address_in_an_ignored_ipv6_range_is_refused", "2001:db8:50::7", blocklist.ErrIgnored},
		{"an_ordinary_address_is_in_force", "198.51.100.7 # recidivist 2026-11-24T13:55:51Z jails=sshd bans=3", nil},
		{"a_slash_16_needs_no_mark", "198.51.0.0/16", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mirrorIn(t, "192.0.2.1\n"+tt.line+"\n2001:db8::1\n")
			f.SetPolicy(policy)
			es, bad, err := f.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			p, _, _ := strings.Cut(tt.line, " ")
			want := []string{"192.0.2.1/32", netip.MustParsePrefix(canonicalText(p)).String(), "2001:db8::1/128"}
			if tt.want != nil {
				want = []string{"192.0.2.1/32", "2001:db8::1/128"}
			}
			if got := prefixes(es); !reflect.DeepEqual(got, want) {
				t.Errorf("entries in force = %v, want %v", got, want)
			}
			if tt.want == nil {
				for _, le := range bad {
					t.Errorf("unexpected refusal: %v", le)
				}
				return
			}
			if len(bad) != 1 {
				t.Fatalf("got %d refused lines %v, want 1", len(bad), bad)
			}
			le := bad[0]
			if le.Line != 2 || !errors.Is(le, tt.want) {
				t.Errorf("refusal = %v (line %d), want line 2 wrapping %v", le, le.Line, tt.want)
			}
			msg := le.Error()
			if !strings.HasPrefix(msg, f.Path()+":2: ") || !strings.Contains(msg, "delete the line") {
				t.Errorf("refusal %q does not name file:line and the fix", msg)
			}
		})
	}
}

// canonicalText writes an address without a prefix length as /32 or /128.
func canonicalText(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func TestATooWideLineSaysHowToMarkIt(t *testing.T) {
	f := mirrorIn(t, "10.0.0.0/8\n")
	_, bad, err := f.Load()
	if err != nil || len(bad) != 1 {
		t.Fatalf("Load: %v, %v", bad, err)
	}
	if msg := bad[0].Error(); !strings.Contains(msg, "recidivist ban --force 10.0.0.0/8") {
		t.Errorf("refusal %q does not say how to keep the range", msg)
	}
}

func TestTheZeroPolicyStillRefusesLoopbackAndEverything(t *testing.T) {
	f := mirrorIn(t, "127.0.0.1\n0.0.0.0/0\n::/0\n192.0.2.1\n")
	es, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := prefixes(es); !reflect.DeepEqual(got, []string{"192.0.2.1/32"}) {
		t.Errorf("entries = %v, want only 192.0.2.1/32", got)
	}
	if len(bad) != 3 {
		t.Errorf("refused %d lines, want 3: %v", len(bad), bad)
	}
}

func TestForceIsWrittenAndReadBack(t *testing.T) {
	f := mirrorIn(t, "")
	e := blocklist.Entry{Prefix: pfx("10.0.0.0/8"), Added: at("2026-11-24T13:55:51Z"), Manual: true, Force: true, Comment: "hoster"}
	if got, want := e.String(), "10.0.0.0/8 # recidivist 2026-11-24T13:55:51Z manual force hoster"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if _, err := f.Add(e); err != nil {
		t.Fatal(err)
	}
	es := mustLoad(t, f)
	if len(es) != 1 || !es[0].Force || !es[0].Manual || es[0].Note() != "hoster" {
		t.Errorf("read back %+v", es)
	}
}

func TestAForcedBanReplacesTheRefusedLineOfTheSameRange(t *testing.T) {
	f := mirrorIn(t, "# imported\n10.0.0.0/8\n192.0.2.1\n")
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("10.0.0.0/8"), Added: at("2026-11-24T13:55:51Z"), Manual: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, f), "# imported\n192.0.2.1\n10.0.0.0/8 # recidivist 2026-11-24T13:55:51Z manual force\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	mustLoad(t, f)
}

func TestRefusedLinesAreKeptVerbatimOnRewrite(t *testing.T) {
	const hostile = "127.0.0.1 localhost\n0.0.0.0/0\n10.0.0.0/8\n10.0.0.0/8\n"
	f := mirrorIn(t, hostile)
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.9/32")}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f); got != hostile+"192.0.2.9\n" {
		t.Errorf("file = %q: a refused line was changed or dropped", got)
	}
}

func TestUnbanDeletesARefusedLine(t *testing.T) {
	f := mirrorIn(t, "10.0.0.0/8\n192.0.2.1\n")
	removed, err := f.Remove(pfx("10.0.0.0/8"))
	if err != nil {
		t.Fatal(err)
	}
	if got := prefixes(removed); !reflect.DeepEqual(got, []string{"10.0.0.0/8"}) {
		t.Errorf("removed = %v, want the refused line's range: unban must say it is gone", got)
	}
	if got := readFile(t, f); got != "192.0.2.1\n" {
		t.Errorf("file = %q, want the refused line gone", got)
	}
}

func TestSetPolicyAppliesToTheNextLoad(t *testing.T) {
	f := mirrorIn(t, "192.0.2.50\n192.0.2.1\n")
	if got := prefixes(mustLoad(t, f)); len(got) != 2 {
		t.Fatalf("before: %v", got)
	}
	f.SetPolicy(blocklist.Policy{Ignore: []netip.Prefix{pfx("192.0.2.50/32")}})
	es, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := prefixes(es); !reflect.DeepEqual(got, []string{"192.0.2.1/32"}) || len(bad) != 1 {
		t.Errorf("after: entries %v, refused %v", got, bad)
	}
}

// TestABadLineIsReportedByAShortEscapedPrefix: the mirror may hold anything
// (a secret, terminal escapes); what is logged of a line is bounded and
// escaped.
func TestABadLineIsReportedByAShortEscapedPrefix(t *testing.T) {
	secret := "root:$y$j9T$" + strings.Repeat("s3cr3t", 200) + ":19000:0:99999:7:::"
	f := mirrorIn(t, secret+"\n\x1b[2J\x1b]0;owned\x07"+strings.Repeat("A", 500)+"\n192.0.2.1\n")
	es, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || len(bad) != 2 {
		t.Fatalf("entries %v, bad %d", es, len(bad))
	}
	for _, le := range bad {
		msg := le.Error()
		if len(msg) > len(f.Path())+250 {
			t.Errorf("line %d reported in %d bytes: %q", le.Line, len(msg), msg)
		}
		if strings.ContainsAny(msg, "\x1b\x07") {
			t.Errorf("line %d reported with raw control bytes: %q", le.Line, msg)
		}
		if strings.Count(msg, "s3cr3t") > 12 {
			t.Errorf("line %d reported with more than a short prefix: %q", le.Line, msg)
		}
	}
	if !strings.Contains(bad[1].Error(), `\x1b[2J`) {
		t.Errorf("escape not shown escaped: %q", bad[1].Error())
	}
}

// TestASymlinkedMirrorIsNeverFollowed: a link in place of the mirror could
// point anywhere (/etc/shadow); it is neither read, nor written, nor chmodded
// through, and the error says what to do.
func TestASymlinkedMirrorIsNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "shadow")
	const secret = "root:$y$j9T$secret:19000:0:99999:7:::\n"
	if err := os.WriteFile(target, []byte(secret), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "blocklist")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f := blocklist.Open(link)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, blocklist.ErrSymlink) || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), "rm "+link) {
			t.Errorf("%s: err = %v, want ErrSymlink naming %s and the fix", what, err, link)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the target's content leaked: %v", what, err)
		}
	}
	_, bad, err := f.Load()
	check("Load", err)
	if len(bad) != 0 {
		t.Errorf("Load reported the target's lines: %v", bad)
	}
	_, err = f.Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")})
	check("Add", err)
	_, err = f.Remove(pfx("192.0.2.1/32"))
	check("Remove", err)
	_, err = f.Expire(time.Now())
	check("Expire", err)
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(target)
	if string(b) != secret || fi.Mode().Perm() != 0o640 {
		t.Errorf("target changed: mode %v, content %q", fi.Mode().Perm(), b)
	}
	if li, err := os.Lstat(link); err != nil || li.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself was replaced: %v", err)
	}
}

func TestASymlinkedLockFileIsNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "cron-job")
	f := blocklist.Open(filepath.Join(dir, "blocklist"))
	if err := os.Symlink(target, f.Path()+".lock"); err != nil {
		t.Fatal(err)
	}
	_, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")})
	if !errors.Is(err, blocklist.ErrSymlink) || !strings.Contains(err.Error(), f.Path()+".lock") {
		t.Errorf("Add: err = %v, want ErrSymlink naming the lock file", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock's link target was created: %v", err)
	}
}
