package watcher

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzSeeds are the hand-written corner cases, next to every corpus line.
var fuzzSeeds = []string{
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10",
	"2026-11-24 15:52:10,849 fail2ban.observer       [9091]: INFO    [sshd] Found 192.0.2.10, bad - 2026-11-24 15:52:10, 2 # -> 3.0, Ban",
	"2026-11-24 15:52:26,100 fail2ban.actions        [9484]: NOTICE  [nginx-http-auth] Restore Ban 198.51.100.150",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban ::ffff:198.51.100.150  \r",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 2001:0DB8:0000:0000:0000:0000:0BAD:0001",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 10.0.0.1/24",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban fe80::1%eth0",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 224.0.0.1",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [] Ban 192.0.2.1",
	"2026-11-24T15:53:23.380751+00:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201",
	"2026-11-24T15:53:23+99:00 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201",
	"Nov  4 15:53:23 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201",
	"Feb 29 15:53:23 vm fail2ban.actions[9723]: NOTICE [sshd] Ban 198.51.100.201",
	"Mar 05 08:41:28 test.org fail2ban-server[11524]: fail2ban.actions        [11524]: NOTICE  [postfix-auth] Ban 192.0.2.2",
	"2026-10-25 02:59:59,000 fail2ban.filter [1]: INFO x\n2026-10-25 02:00:01,000 fail2ban.actions [1]: NOTICE [sshd] Ban 192.0.2.1",
	"2026-11-24 15:51:53,831 fail2ban.filter [1]: INFO x\nhost fail2ban[15699]: [postfix-sasl] Ban 192.0.2.3",
	"host fail2ban[15699]: [postfix-sasl] Ban 192.0.2.3",
	"2026-11-24 15:51:53,831 fail2ban.actions [1]: NOTICE [ss\xffhd] Ban 192.0.2.1",
	"2026-11-24 15:51:53,831 fail2ban.actions [1]: NOTICE [sshd] Ban 192.0.2.1\x00",
	"iptables -w -C INPUT -p $proto -m multiport --dports ssh -j f2b-sshd\ndone",
	"\x00\x00\x00\x002026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10",
	"2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10\n    fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10",
}

// FuzzParse feeds lines (an input holds several, split on "\n", parsed in
// order by one Parser so that its memory is exercised) and checks that a
// Countable line really is a ban of a valid unicast address.
func FuzzParse(f *testing.F) {
	// Without the corpus (never under CI=true, see corpusDir) the hand seeds
	// and the committed crashers still run.
	var logs []string
	if _, err := os.Stat(filepath.Join("..", "..", "shared", "corpus")); err == nil || os.Getenv("CI") == "true" {
		logs = corpusLogs(f)
	}
	for _, log := range logs {
		for _, line := range strings.Split(string(mustRead(f, log)), "\n") {
			f.Add(line)
		}
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, input string) {
		p := NewParser(ParserConfig{Location: berlin, Now: func() time.Time { return now }})
		skipped := uint64(0)
		for _, line := range strings.Split(input, "\n") {
			b, v := p.Parse([]byte(line))
			total := uint64(0)
			for _, n := range p.Skipped() {
				total += n
			}
			switch v {
			case Skipped:
				if total != skipped+1 {
					t.Fatalf("Parse(%q) = Skipped but the skip count went from %d to %d", line, skipped, total)
				}
			case NotBan, Countable:
				if total != skipped {
					t.Fatalf("Parse(%q) = %v but the skip count went from %d to %d", line, v, skipped, total)
				}
			default:
				t.Fatalf("Parse(%q) = unknown verdict %d", line, v)
			}
			skipped = total
			if v == Countable {
				checkCountable(t, line, b)
			}
		}
	})
}

// The two ways a counted line may introduce its message, written as
// regular expressions independently of the parser: fail2ban's actions
// logger with a level, or a syslog/journal daemon tag.
var (
	fromActionsLogger = regexp.MustCompile(`(?:^|[ \t])fail2ban\.(?:server\.)?actions *(?:\[\d+\])?: +(?:NOTICE|WARNING) +\[[^\]]*\] Ban [^ \t]+[ \t]*$`)
	fromDaemonTag     = regexp.MustCompile(`(?:^|[ \t])fail2ban(?:-server)?(?:\[\d+\])?: +(?:(?:NOTICE|WARNING) +)?\[[^\]]*\] Ban [^ \t]+[ \t]*$`)
)

// checkCountable asserts what every Countable must satisfy, whatever the line.
func checkCountable(t *testing.T, line string, b Ban) {
	t.Helper()
	line = strings.TrimLeft(line, "\x00") // a crash's zero-filled block before the line
	a := b.Addr
	if !a.IsValid() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		t.Fatalf("Parse(%q) counted address %v, not a valid unicast address", line, a)
	}
	if b.Jail == "" || strings.ContainsAny(b.Jail, " \t[]") {
		t.Fatalf("Parse(%q) counted jail %q", line, b.Jail)
	}
	if b.Time.IsZero() {
		t.Fatalf("Parse(%q) counted without a time", line)
	}
	if len(line) > MaxLineLength || strings.IndexByte(line, 0) >= 0 || !utf8.ValidString(line) {
		t.Fatalf("Parse(%q) counted a line it should have skipped", line)
	}
	if body := strings.TrimSuffix(line, "\r"); !fromActionsLogger.MatchString(body) && !fromDaemonTag.MatchString(body) {
		t.Fatalf("Parse(%q) counted a line that is neither from the actions logger at NOTICE/WARNING nor behind a fail2ban daemon tag", line)
	}
	// The line must say "[JAIL] Ban ADDR" with this jail and an address
	// that reads as b.Addr (mapped or uncompressed forms included).
	i := strings.LastIndex(line, "] Ban ")
	if i < 0 || !strings.Contains(line, "["+b.Jail+"] Ban ") {
		t.Fatalf("Parse(%q) counted [%s] %s, but the line has no \"[%s] Ban \"", line, b.Jail, a, b.Jail)
	}
	text := strings.TrimRight(line[i+len("] Ban "):], " \t\r")
	written, err := netip.ParseAddr(text)
	if err != nil || written.Unmap() != a || !strings.Contains(line, "Ban "+text) {
		t.Fatalf("Parse(%q) counted %s, but the line bans %q", line, a, text)
	}
}
