package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/statedir"
)

func TestStatus_counts_net_ranges_and_takes_their_hidden_members_for_no_drift(t *testing.T) {
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
	st := readStatus(w.cfg, w.fake, nil, time.Now())
	var out bytes.Buffer
	st.print(&out)
	if strings.Contains(out.String(), "differs from the mirror") {
		t.Errorf("status takes a restored net range for drift:\n%s", out.String())
	}
	if st.Mirror.NetRanges != 1 || st.Mirror.NetHoles != 1 || !strings.Contains(out.String(), "nets:     1 ranges of net escalation") {
		t.Errorf("status = %+v, want 1 net range with 1 hole, and a nets line:\n%s", st.Mirror, out.String())
	}
}
