package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
	"github.com/recidivist/recidivist/statedir"
)

// fleetName is the fleet-name of every fleet test: keys rcv:{e2e}:*.
const fleetName = "e2e"

// fleetHost is one `recidivist run` of a fleet test: its own network
// namespace (with real sets), config, log and state dir.
type fleetHost struct {
	name                  string
	ns                    string
	conf, log, state, set string
	d                     *proc
	snapshotsBefore       int
}

// fleetRig is n hosts and one redis-server on a unix socket (a path socket
// crosses network namespaces).
type fleetRig struct {
	t     *testing.T
	bin   string
	redis *redistest.Server
	hosts []*fleetHost
}

// newFleetRig makes the hosts (a, b, c, …) with conf added to each one's
// config file, and starts redis; no daemon runs yet.
func newFleetRig(t *testing.T, n int, conf string) *fleetRig {
	t.Helper()
	return newFleetRigWith(t, n, conf, redistest.Options{})
}

// newFleetRigWith is newFleetRig with a Redis started with o.
func newFleetRigWith(t *testing.T, n int, conf string, o redistest.Options) *fleetRig {
	t.Helper()
	r := &fleetRig{t: t, bin: binary(t), redis: redistest.Start(t, o)}
	for i := range n {
		name := string(rune('a' + i))
		dir := t.TempDir()
		h := &fleetHost{
			name:  name,
			ns:    newNamespace(t, "fl"+name),
			conf:  filepath.Join(dir, "recidivist.toml"),
			log:   filepath.Join(dir, "fail2ban.log"),
			state: filepath.Join(dir, "state"),
			set:   fmt.Sprintf("rf%s%d", name, os.Getpid()%100000),
		}
		toml := fmt.Sprintf("fleet-redis = %q\nfleet-name = %q\nfleet-host = %q\nthreshold = 3\nignore = [\"192.0.2.0/24\"]\nreconcile-interval = \"2s\"\n%s",
			r.redis.URL(), fleetName, name, conf)
		if !strings.Contains(conf, "window") {
			toml += "window = \"1h\"\n"
		}
		if err := os.WriteFile(h.conf, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(h.log, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r.hosts = append(r.hosts, h)
	}
	return r
}

func (h *fleetHost) common() []string {
	return []string{"--config", h.conf, "--state-dir", h.state, "--set-name", h.set}
}

// start starts h's daemon and waits until its sets exist.
func (r *fleetRig) start(h *fleetHost) {
	r.t.Helper()
	args := append([]string{"run"}, h.common()...)
	args = append(args, "--log", h.log, "--log-level", "debug", "--chain", "INPUT")
	if h.d != nil {
		h.snapshotsBefore = strings.Count(h.d.out.String(), "fleet: snapshot applied")
	}
	h.d = startIn(r.t, h.ns, r.bin, args...)
	eventually(r.t, time.Now(), 30*time.Second, h.name+": sets made", h.d, func() (bool, error) {
		_, err := setMembers(h.ns, h.set)
		return err == nil, nil
	})
}

// stop stops h's daemon with SIGTERM.
func (r *fleetRig) stop(h *fleetHost) { h.d.term(r.t) }

// startAll starts every daemon and waits until each host's `ban` reaches
// every other host's set: every writer and reader works.
func (r *fleetRig) startAll() {
	r.t.Helper()
	for _, h := range r.hosts {
		r.start(h)
	}
	start := time.Now()
	for i, h := range r.hosts {
		r.command(h, "ban", fmt.Sprintf("198.18.0.%d", i+1))
	}
	for i := range r.hosts {
		a := netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", i+1))
		for _, h := range r.hosts {
			r.waitIn(h, a, start, 60*time.Second)
		}
	}
	r.t.Logf("fleet of %d up: every host's ban in every set %v after the bans", len(r.hosts), time.Since(start).Round(time.Millisecond))
}

// command runs one recidivist command on h.
func (r *fleetRig) command(h *fleetHost, name string, args ...string) string {
	r.t.Helper()
	return runIn(r.t, h.ns, r.bin, append(append([]string{name}, h.common()...), args...)...)
}

// waitIn waits until a is in h's set and mirror; it returns how long after
// since that was.
func (r *fleetRig) waitIn(h *fleetHost, a netip.Addr, since time.Time, within time.Duration) time.Duration {
	r.t.Helper()
	return eventually(r.t, since, within, fmt.Sprintf("%s in %s's set and mirror", a, h.name), h.d, func() (bool, error) {
		ok, err := setHas(h.ns, familySet(h.set, a.Is6()), a)
		if err != nil || !ok {
			return false, err
		}
		_, in := r.mirror(h)[netip.PrefixFrom(a, a.BitLen())]
		return in, nil
	})
}

// waitOut waits until a is out of h's set and mirror.
func (r *fleetRig) waitOut(h *fleetHost, a netip.Addr, since time.Time, within time.Duration) time.Duration {
	r.t.Helper()
	return eventually(r.t, since, within, fmt.Sprintf("%s out of %s's set and mirror", a, h.name), h.d, func() (bool, error) {
		ok, err := setHas(h.ns, familySet(h.set, a.Is6()), a)
		if err != nil || ok {
			return false, err
		}
		_, in := r.mirror(h)[netip.PrefixFrom(a, a.BitLen())]
		return !in, nil
	})
}

func (r *fleetRig) mirror(h *fleetHost) map[netip.Prefix]string {
	r.t.Helper()
	return mirrorEntries(r.t, statedir.Mirror(h.state))
}

// blocked is what h blocks: its mirror's prefixes and its sets' members,
// each sorted.
func (r *fleetRig) blocked(h *fleetHost) (mirror, sets []netip.Prefix) {
	r.t.Helper()
	for p := range r.mirror(h) {
		mirror = append(mirror, p)
	}
	for _, six := range []bool{false, true} {
		ms, err := setMembers(h.ns, familySet(h.set, six))
		if err != nil {
			r.t.Fatal(err)
		}
		sets = append(sets, ms...)
	}
	sortPrefixes(mirror)
	sortPrefixes(sets)
	return mirror, sets
}

func sortPrefixes(ps []netip.Prefix) { slices.SortFunc(ps, netip.Prefix.Compare) }

// record is the fleet's record of a (ok false: none), read from Redis.
func (r *fleetRig) record(a netip.Addr) (string, bool) {
	v, err := r.redis.Do("HGET", "rcv:{"+fleetName+"}:bl", a.String())
	if err != nil {
		return "", false
	}
	s, _ := v.(string)
	return s, true
}

// client is a fleet client of its own, as another member would be.
func (r *fleetRig) client(host string) fleet.Fleet {
	r.t.Helper()
	f, err := fleet.Dial(fleet.Options{URL: r.redis.URL(), Name: fleetName, Host: host})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { f.Close() })
	return f
}

// percentile returns the p-th percentile (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// putRecord offers r as host would, failing the test on an error.
func putRecord(t *testing.T, f fleet.Fleet, rec fleet.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.PutRecord(ctx, rec, 0, 0); err != nil {
		t.Fatal(err)
	}
}
