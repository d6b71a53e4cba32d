package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/statedir"
)

func TestOffendersNets_previews_the_networks_escalation_would_block_and_why_it_refuses_others(t *testing.T) {
	w := newWorld(t)
	auto := func(a string) blocklist.Entry {
		return blocklist.Entry{Prefix: netip.MustParsePrefix(a + "/32"), Added: time.Now(), Jails: []string{"sshd"}, Bans: 3}
	}
	_, err := blocklist.Open(statedir.Mirror(w.cfg.StateDir)).Add(
		auto("198.51.100.7"), auto("198.51.100.9"), auto("198.51.100.33"), // a candidate
		auto("203.0.113.1"), auto("203.0.113.2"), auto("203.0.113.3"), // holds an ignore entry
		auto("192.0.2.1"), auto("192.0.2.2"), // below the threshold
		blocklist.Entry{Prefix: netip.MustParsePrefix("192.0.2.3/32"), Added: time.Now(), Manual: true}, // manual: not counted
	)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"recidivist", "offenders", "--state-dir", w.cfg.StateDir, "--ignore", "203.0.113.250", "--nets", "--json"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got []netJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("offenders --nets --json: %v\n%s", err, out.String())
	}
	if len(got) != 2 {
		t.Fatalf("offenders --nets = %+v, want 198.51.100.0/24 and 203.0.113.0/24", got)
	}
	if got[0].Network != "198.51.100.0/24" || got[0].Verdict != "escalate" || strings.Join(got[0].Members, ",") != "198.51.100.7,198.51.100.9,198.51.100.33" {
		t.Errorf("first network = %+v, want 198.51.100.0/24 escalated with its 3 members", got[0])
	}
	if got[1].Network != "203.0.113.0/24" || got[1].Verdict != "refused" || !strings.Contains(got[1].Reason, "ignore") {
		t.Errorf("second network = %+v, want 203.0.113.0/24 refused for the ignore entry inside", got[1])
	}
	out.Reset()
	args = []string{"recidivist", "offenders", "--state-dir", w.cfg.StateDir, "--nets"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "NETWORK") || !strings.Contains(out.String(), "net-escalation is off") {
		t.Errorf("offenders --nets printed:\n%s\nwant a table and a word that escalation is off", out.String())
	}
}
