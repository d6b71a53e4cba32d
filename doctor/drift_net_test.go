package doctor

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/statedir"
)

// TestDoctor_a_net_range_with_its_hidden_members_and_holes_is_no_drift: the
// kernel holds the range in place of its members, and a nomatch entry for
// each hole; check takes that for what the mirror says, not for drift.
func TestDoctor_a_net_range_with_its_hidden_members_and_holes_is_no_drift(t *testing.T) {
	w := newWorld(t)
	mirror := blocklist.Open(statedir.Mirror(w.cfg.StateDir))
	now := time.Now()
	_, err := mirror.Add(
		blocklist.Entry{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Added: now, Jails: []string{"sshd"}, Bans: 3},
		blocklist.Entry{Prefix: netip.MustParsePrefix("198.51.100.33/32"), Added: now, Jails: []string{"sshd"}, Bans: 3},
		blocklist.Entry{Prefix: netip.MustParsePrefix("198.51.100.44/32"), Added: now, Jails: []string{"sshd"}, Bans: 3},
		blocklist.Entry{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Added: now, Net: true,
			Members: []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.33"), netip.MustParseAddr("198.51.100.44")},
			Holes:   []netip.Prefix{netip.MustParsePrefix("198.51.100.9/32")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := mirror.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Restore(w.fake, entries, now, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if n := w.run(); n != 0 || strings.Contains(w.out.String(), "not in the") {
		t.Fatalf("a restored net range: %d problems, want none:\n%s", n, w.out)
	}
}
