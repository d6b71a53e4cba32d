package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// level prints a level as check does.
func level(l fleet.Level) string {
	return [...]string{"ok", "WARNING", "PROBLEM"}[l]
}

func render(fs []fleet.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(level(f.Level) + " " + f.What + "\n")
		if f.Fix != "" {
			b.WriteString("  fix: " + f.Fix + "\n")
		}
	}
	return b.String()
}

func TestCheckNamesEachFleetProblemWithItsFix(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	dir := t.TempDir()
	pw := func(name, pass string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, wrong := pw("good", "s3cret"), pw("wrong", "guess")
	acl := func(user string, without ...string) {
		line := fleet.ACL("t", user, "s3cret")
		for _, c := range without {
			line = strings.Replace(line, " +"+c, "", 1)
		}
		if _, err := srv.Do(toArgs(strings.Fields(line))...); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	acl("rcv-web")
	acl("rcv-lacking", "xadd", "hgetall", "multi")
	rule := fleet.Rule{Threshold: 3, Window: time.Hour, BanTime: 24 * time.Hour}
	if _, err := srv.Do("HSET", "rcv:{t}:cfg", "threshold", 3, "window_ms", time.Hour.Milliseconds(), "bantime_ms", (24 * time.Hour).Milliseconds()); err != nil {
		t.Fatal(err)
	}
	opts := func(user, pass string) fleet.Options {
		return fleet.Options{URL: srv.URL(), Name: "t", Host: "web1", User: user, PasswordFile: pass}
	}
	cases := []struct {
		name   string
		o      fleet.CheckOptions
		level  fleet.Level
		want   []string // in the finding of that level, and its fix
		others fleet.Level
	}{
		{"a working link is ok throughout", fleet.CheckOptions{Fleet: opts("rcv-web", good), Local: rule}, fleet.OK,
			[]string{"answers as user rcv-web", "every command of the fleet allowed", "counts with this host's threshold 3", "clock within"}, fleet.OK},
		{"an unreachable Redis", fleet.CheckOptions{Fleet: fleet.Options{URL: "redis://127.0.0.1:1", Name: "t"}, Local: rule}, fleet.Problem,
			[]string{"fleet-redis redis://127.0.0.1:1 unreachable", "connection refused", "local blocking goes on", "fix: start Redis"}, fleet.Problem},
		{"a wrong password", fleet.CheckOptions{Fleet: opts("rcv-web", wrong), Local: rule}, fleet.Problem,
			[]string{"refuses user rcv-web: wrong user or password (WRONGPASS)", "fix: check fleet-user and fleet-password-file"}, fleet.Problem},
		{"an ACL without some commands", fleet.CheckOptions{Fleet: opts("rcv-lacking", good), Local: rule}, fleet.Problem,
			[]string{"refuses multi, hgetall, xadd (NOPERM)", "fix: have the Redis admin run the line of: recidivist fleet acl --fleet-user rcv-lacking"}, fleet.OK},
		{"a local rule other than the fleet's", fleet.CheckOptions{Fleet: opts("rcv-web", good), Local: fleet.Rule{Threshold: 5, Window: 2 * time.Hour, BanTime: 24 * time.Hour}}, fleet.Warning,
			[]string{"counts with threshold 3, window 1h0m0s", "this host's keys say threshold 5, window 2h0m0s", "fix: set threshold, window and ban-time here to the fleet's, or", "fleet init --force"}, fleet.OK},
		{"a clock 5 s ahead of Redis", fleet.CheckOptions{Fleet: opts("rcv-web", good), Local: rule, Now: func() time.Time { return time.Now().Add(5 * time.Second) }}, fleet.Warning,
			[]string{"this host's clock is ", "off Redis's TIME (more than 1s)", "fix: run NTP on this host and on Redis's"}, fleet.OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got := fleet.Check(ctx, c.o)
			out := render(got)
			var at string
			for _, f := range got {
				if f.Level == c.level {
					at += level(f.Level) + " " + f.What + "\n  fix: " + f.Fix + "\n"
				} else if f.Level > c.others {
					t.Errorf("an unexpected %s: %s", level(f.Level), f.What)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(at, w) {
					t.Errorf("no %s finding says %q:\n%s", level(c.level), w, out)
				}
			}
		})
	}
	// the probe's scratch keys do not stay
	time.Sleep(11 * time.Second)
	if n, err := srv.Do("EXISTS", "rcv:{t}:check:h", "rcv:{t}:check:z", "rcv:{t}:check:x", "rcv:{t}:check:s"); err != nil || n.(int64) != 0 {
		t.Fatalf("%v of check's scratch keys still there 11 s later (err %v)", n, err)
	}
}
