package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/statedir"
)

// writeHitsState writes a mirror of four blocks and a hit record of them:
// .1 hit yesterday, .2 never hit (added 100 days ago), .3 hit 40 days ago,
// and a manual ban never hit.
func writeHitsState(t *testing.T) string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	auto := func(addr string, at time.Time) string {
		return fmt.Sprintf("%s # recidivist %s jails=sshd bans=3\n", addr, at.Format(time.RFC3339))
	}
	mirror := auto("192.0.2.1", ago(100)) + auto("192.0.2.2", ago(100)) + auto("192.0.2.3", ago(100)) +
		fmt.Sprintf("198.51.100.9 # recidivist %s manual\n", ago(100).Format(time.RFC3339))
	hitsFile := fmt.Sprintf("# recidivist hits v1 sampled=%d\n", now.Unix()) +
		fmt.Sprintf("192.0.2.1/32 42 2520 %d %d\n", ago(1).Unix(), ago(1).Unix()) +
		fmt.Sprintf("192.0.2.2/32 0 0 0 %d\n", ago(100).Unix()) +
		fmt.Sprintf("192.0.2.3/32 7 420 %d %d\n", ago(40).Unix(), ago(40).Unix()) +
		fmt.Sprintf("198.51.100.9/32 0 0 0 %d\n", ago(100).Unix())
	for name, body := range map[string]string{statedir.Mirror(state): mirror, statedir.Hits(state): hitsFile} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return state
}

func TestList_shows_packets_and_last_hit_and_idle_previews_what_idle_unblock_removes(t *testing.T) {
	state := writeHitsState(t)
	common := []string{"--state-dir", state, "--set-name", "rcdvlisthits"} // no such set: the record's figures
	code, out, errOut := invoke(t, append([]string{"list", "--json"}, common...)...)
	var listed []entryJSON
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil {
		t.Fatalf("list --json: exit %d, %v: %s %s", code, err, out, errOut)
	}
	if len(listed) != 4 || listed[0].Address != "192.0.2.1" || listed[0].Packets != 42 || listed[0].Bytes != 2520 || listed[0].LastHit == nil {
		t.Fatalf("list --json = %+v, want 192.0.2.1 first with 42 packets, 2520 bytes and a last hit", listed)
	}
	if listed[1].LastHit != nil || !strings.Contains(out, `"last_hit": null`) {
		t.Errorf("a block never hit lists last_hit %v, want null:\n%s", listed[1].LastHit, out)
	}

	code, out, errOut = invoke(t, append([]string{"list"}, common...)...)
	if code != 0 || !strings.Contains(out, "PACKETS") || !strings.Contains(out, "LAST HIT") || !strings.Contains(out, " 42 ") {
		t.Errorf("list: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"idle_30d_is_the_automatic_blocks_not_hit_for_30_days", []string{"--idle", "30d"}, []string{"192.0.2.2", "192.0.2.3"}},
		{"idle_90d_is_the_one_never_hit_since_added_100_days_ago", []string{"--idle", "90d"}, []string{"192.0.2.2"}},
		{"idle_unblock_manual_adds_the_manual_ban", []string{"--idle", "90d", "--idle-unblock-manual"}, []string{"192.0.2.2", "198.51.100.9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := invoke(t, append(append([]string{"list", "--json"}, common...), c.args...)...)
			var got []entryJSON
			if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
				t.Fatalf("exit %d, %v: %s %s", code, err, out, errOut)
			}
			var addrs []string
			for _, e := range got {
				addrs = append(addrs, e.Address)
			}
			if strings.Join(addrs, " ") != strings.Join(c.want, " ") {
				t.Errorf("listed %v, want %v", addrs, c.want)
			}
		})
	}
	if code, _, errOut := invoke(t, append([]string{"list", "--idle", "soon"}, common...)...); code != 2 || !strings.Contains(errOut, "--idle") {
		t.Errorf("list --idle soon: exit %d, stderr %q; want 2 naming --idle", code, errOut)
	}
}

func TestStatus_counts_the_blocks_idle_over_30_and_90_days(t *testing.T) {
	state := writeHitsState(t)
	code, out, errOut := invoke(t, "status", "--json", "--state-dir", state, "--set-name", "rcdvlisthits", "--idle-unblock", "90d")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Hits == nil {
		t.Fatalf("status --json: exit %d, %v: %s %s", code, err, out, errOut)
	}
	// .2 and the manual ban: idle 100 days; .3: 40 days.
	if st.Hits.IdleOver30d != 3 || st.Hits.IdleOver90d != 2 || st.Hits.IdleUnblock != "90d" || st.Hits.Sampled == nil {
		t.Errorf("status hits = %+v, want 3 over 30 days, 2 over 90, idle-unblock 90d, a sample time", *st.Hits)
	}
	_, out, _ = invoke(t, "status", "--state-dir", state, "--set-name", "rcdvlisthits")
	if !strings.Contains(out, "idle:     3 blocks not hit for over 30 days, 2 over 90 days") {
		t.Errorf("status does not say how many blocks are idle:\n%s", out)
	}
}
