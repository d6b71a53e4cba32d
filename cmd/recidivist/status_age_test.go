package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStatus_shows_a_last_ban_in_the_future_as_such_with_its_timestamp(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name    string
		lastBan time.Time
		want    []string
		notWant string
	}{
		{"a ban an hour ago is an hour ago", now.Add(-time.Hour), []string{"(1h0m0s ago)"}, "future"},
		{"a ban 72 years ahead is in the future, with a hint", now.Add(631869 * time.Hour), []string{"631869h0m0s in the future — clock skew or wrong log-timezone?", now.Add(631869 * time.Hour).Local().Format(time.RFC3339)}, "(-"},
		{"a ban an hour ahead is in the future too", now.Add(time.Hour + time.Minute), []string{"1h1m0s in the future"}, "ago"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			at := c.lastBan
			st := statusJSON{Watcher: &watcherJSON{Logs: []logJSON{{Path: "/var/log/fail2ban.log", Offset: 10, LastBan: &at}}}}
			var out bytes.Buffer
			st.print(&out)
			var line string
			for l := range strings.Lines(out.String()) {
				if strings.HasPrefix(l, "log:") {
					line = l
				}
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("log line %q lacks %q", line, w)
				}
			}
			if strings.Contains(strings.TrimPrefix(line, "log:      /var/log/fail2ban.log read to byte 10, last ban "+at.Local().Format(time.RFC3339)), c.notWant) {
				t.Errorf("log line %q has %q", line, c.notWant)
			}
		})
	}
}
