package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

func TestDoctor_names_each_fleet_problem_with_its_fix(t *testing.T) {
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
	for _, acl := range []string{fleet.ACL("t", "rcv-web", "s3cret"), strings.Replace(fleet.ACL("t", "rcv-noxadd", "s3cret"), " +xadd", "", 1)} {
		if _, err := srv.Do(toAny(strings.Fields(acl))...); err != nil {
			t.Fatalf("%s: %v", acl, err)
		}
	}
	down := redistest.Start(t, redistest.Options{})
	down.Kill()
	fleetOf := func(url, user, pass string) func(*config.Config) {
		return func(c *config.Config) {
			c.Fleet = config.Fleet{Redis: url, Name: "t", Host: "web1", User: user, PasswordFile: pass, AcceptBlock: true, AcceptUnban: true}
		}
	}
	for _, tc := range []struct {
		name     string
		setup    func(*config.Config)
		clock    time.Duration // ahead of the real one
		problems int
		want     string // a line of the output
		fix      string
	}{
		{"no_fleet_says_nothing_of_it", func(*config.Config) {}, 0, 0, "", ""},
		{"a_working_fleet_is_ok", fleetOf(srv.URL(), "rcv-web", good), 0, 0, "ok       fleet-redis " + srv.URL() + " answers as user rcv-web", ""},
		{"redis_down", fleetOf(down.URL(), "", ""), 0, 1, "PROBLEM  fleet-redis " + down.URL() + " unreachable", "start Redis"},
		{"a_wrong_password", fleetOf(srv.URL(), "rcv-web", wrong), 0, 1, "wrong user or password (WRONGPASS)", "check fleet-user and fleet-password-file"},
		{"an_acl_without_xadd", fleetOf(srv.URL(), "rcv-noxadd", good), 0, 1, "the ACL of user rcv-noxadd refuses xadd (NOPERM)", "recidivist fleet acl --fleet-user rcv-noxadd"},
		{"another_rule_here", func(c *config.Config) { fleetOf(srv.URL(), "rcv-web", good)(c); c.Threshold = 5 }, 0, 0,
			"WARNING  fleet \"t\" counts with threshold 3", "recidivist fleet init --force"},
		{"a_clock_5s_ahead", fleetOf(srv.URL(), "rcv-web", good), 5 * time.Second, 0, "off Redis's TIME (more than 1s)", "run NTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w.cfg)
			if w.cfg.Fleet.On() {
				// the fleet's rule: this host's window and ban-time, and
				// threshold 3, which is this host's unless the case changed it
				if _, err := srv.Do("HSET", "rcv:{t}:cfg", "threshold", 3, "window_ms", w.cfg.Window.Milliseconds(), "bantime_ms", w.cfg.BanTime.Milliseconds()); err != nil {
					t.Fatal(err)
				}
			}
			w.doctor.clock = func() time.Time { return time.Now().Add(tc.clock) }
			problems := w.run()
			out := w.out.String()
			if tc.want == "" {
				if strings.Contains(out, "fleet-redis") || strings.Contains(out, "fleet \"") {
					t.Errorf("output mentions a fleet that is off:\n%s", out)
				}
				return
			}
			if problems != tc.problems || !strings.Contains(out, tc.want) || tc.fix != "" && !givesFix(out, tc.fix) {
				t.Errorf("%d problems, want %d, with %q and the fix %q in:\n%s", problems, tc.problems, tc.want, tc.fix, out)
			}
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
