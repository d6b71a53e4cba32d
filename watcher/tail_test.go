package watcher

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSampleTail_counts_the_lines_and_bans_at_the_end_of_a_log(t *testing.T) {
	ban := func(jail, addr string) string {
		return "2026-11-24 10:00:00,250 fail2ban.actions        [1]: NOTICE  [" + jail + "] Ban " + addr + "\n"
	}
	relayed := "Nov 24 10:00:00 vm fail2ban.actions[1]: NOTICE [sshd] Ban 192.0.2.9\n"
	old := strings.Repeat(ban("sshd", "192.0.2.1"), 100) // beyond the tail read
	tail := ban("sshd", "192.0.2.2") + ban("recidive", "192.0.2.3") + ban("sshd", "127.0.0.1") + "noise\n" + relayed
	path := filepath.Join(t.TempDir(), "fail2ban.log")
	if err := os.WriteFile(path, []byte(old+tail), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewParser(ParserConfig{Location: time.UTC})
	filter := NewFilter(nil, []string{"recidive"}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	got, err := SampleTail(context.Background(), f, int64(len(tail)), p, filter)
	// recidive is excluded and loopback always ignored: two bans count, one of them relayed.
	if want := (TailCounts{Lines: 5, Bans: 2, Relayed: 1}); err != nil || got != want {
		t.Errorf("SampleTail = %+v, %v; want %+v", got, err, want)
	}
}
