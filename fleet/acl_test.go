package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// aclHarness is a real redis-server reached as the user fleet.ACL creates,
// with its password read from a 0600 file through fleet.Dial.
func aclHarness(t *testing.T) (harness, *redistest.Server, func() *redis.Client) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-fleet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	line := fleet.ACL("t", "rcv-web", "s3cret-fleet")
	if _, err := srv.Do(toArgs(strings.Fields(line))...); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	dial := func(host string) *fleet.Redis {
		f, err := fleet.Dial(fleet.Options{URL: srv.URL(), Name: "t", Host: host, User: "rcv-web", PasswordFile: pwFile})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	h := harness{
		name: "redis_acl_user",
		host: func(name string) fleet.Fleet { return dial(name) },
		lose: srv.Restart,
		trimTo: func(n int) {
			if _, err := srv.Do("XTRIM", "rcv:{t}:chg", "MAXLEN", n); err != nil {
				t.Fatal(err)
			}
		},
	}
	return h, srv, func() *redis.Client { return dial("probe").Client() }
}

func toArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestTheACLUserRunsTheFleetAndNothingElse(t *testing.T) {
	h, _, client := aclHarness(t)
	c := client()
	ctx := context.Background()
	// the workload runs as this user
	a, b, x := h.host("a"), h.host("b"), h.host("c")
	mustInit(t, a, hourRule)
	for i, f := range []fleet.Fleet{a, b, x} {
		push(t, f, ev("203.0.113.9", 0, "sshd", uint64(i+1)))
	}
	put(t, a, "192.0.2.70/32", fleet.Unban, 0)
	snap, err := b.Snapshot(ctx)
	if err != nil || len(snap.Records) != 2 {
		t.Fatalf("Snapshot as the ACL user = %+v, %v", snap, err)
	}
	if _, err := b.Changes(ctx, snap.Cursor, 0, 10); err != nil {
		t.Fatalf("Changes as the ACL user: %v", err)
	}
	// the sweep drops the unban older than the window (t0 is long past)
	if n, err := b.(fleet.Sweeper).Sweep(ctx, time.Now(), hourRule.Window); err != nil || n != 1 {
		t.Fatalf("Sweep as the ACL user = %d, %v; want the old unban", n, err)
	}
	refused := [][]any{
		{"FLUSHALL"},
		{"CONFIG", "GET", "dir"},
		{"KEYS", "*"},
		{"DEL", "rcv:{t}:bl"},
		{"GET", "other:key"},
		{"EVAL", "return redis.call('SET', 'other:key', 'x')", "0"},
		{"EVAL", "return redis.call('HGET', 'other:key', 'f')", "0"},
		{"HSET", "other:key", "f", "v"},
		{"EVAL", "return redis.call('DEL', KEYS[1])", "1", "rcv:{t}:bl"},
		{"EVAL", "return redis.call('FLUSHALL')", "0"},
	}
	for _, cmd := range refused {
		err := c.Do(ctx, cmd...).Err()
		if !refusedByACL(err) {
			t.Errorf("%v as the ACL user = %v, want a refusal by the ACL", cmd, err)
		}
	}
	if n, err := c.HLen(ctx, "rcv:{t}:bl").Result(); !refusedByACL(err) {
		t.Errorf("HLEN (not in the list) = %d, %v; want a refusal by the ACL", n, err)
	}
}

// refusedByACL recognises Redis 7.0's refusals: NOPERM for a command, and
// from inside a script "can't run this command" or "No permissions to
// access a key".
func refusedByACL(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "NOPERM") || strings.Contains(s, "can't run this command") || strings.Contains(s, "No permissions to access a key") || strings.Contains(s, "can't access at least one of the keys")
}

func TestThePasswordFileMustBePrivate(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := fleet.Dial(fleet.Options{URL: "redis://127.0.0.1:1", Name: "t", Host: "a", PasswordFile: pw})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+pw) {
		t.Fatalf("Dial with a 0644 password file = %v, want a refusal naming chmod 600", err)
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		in, bad string
		want    fleet.Target
	}{
		{in: "redis://10.0.0.5:6390/2", want: fleet.Target{Scheme: "redis", Addrs: []string{"10.0.0.5:6390"}, DB: 2, TLSServer: "10.0.0.5"}},
		{in: "rediss://redis.example.net", want: fleet.Target{Scheme: "rediss", Addrs: []string{"redis.example.net:6379"}, TLSServer: "redis.example.net"}},
		{in: "unix:///run/redis/redis.sock", want: fleet.Target{Scheme: "unix", Addrs: []string{"/run/redis/redis.sock"}}},
		{in: "redis-sentinel://s1:26379,s2,s3:26400/fleet", want: fleet.Target{Scheme: "redis-sentinel", Addrs: []string{"s1:26379", "s2:26379", "s3:26400"}, Master: "fleet"}},
		{in: "redis://:pw@10.0.0.5", bad: "fleet-password-file"},
		{in: "redis://u@10.0.0.5", bad: "fleet-user"},
		{in: "http://10.0.0.5", bad: "scheme"},
		{in: "unix://relative.sock", bad: "absolute"},
		{in: "redis-sentinel://s1,s2", bad: "MASTER"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := fleet.ParseURL(tc.in)
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("ParseURL = %+v, %v; want an error mentioning %q", got, err, tc.bad)
				}
				return
			}
			if err != nil || got.Scheme != tc.want.Scheme || strings.Join(got.Addrs, ",") != strings.Join(tc.want.Addrs, ",") ||
				got.Master != tc.want.Master || got.DB != tc.want.DB || got.TLSServer != tc.want.TLSServer {
				t.Fatalf("ParseURL = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
