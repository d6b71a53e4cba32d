package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recidivist/recidivist/internal/testenv"
)

// Sentinel is one private redis-sentinel watching one primary.
type Sentinel struct {
	t   testing.TB
	dir string
	cmd *exec.Cmd
	// Addr is 127.0.0.1:PORT.
	Addr string
}

// SentinelOptions say how a sentinel watches its primary.
type SentinelOptions struct {
	Master string // the name clients ask for
	Quorum int    // sentinels that must agree the primary is down; default 2
	// DownAfter is how long the primary may not answer before this
	// sentinel thinks it down; default 1s (short: tests wait on the
	// failover, they do not time it).
	DownAfter time.Duration
	// FailoverTimeout bounds one failover attempt; default 10s.
	FailoverTimeout time.Duration
	// Users are ACL rules of sentinel.conf ("user NAME on >PASSWORD …"),
	// for clients that authenticate to the sentinels too.
	Users []string
}

// StartSentinel starts a redis-sentinel on 127.0.0.1 with a free port,
// watching primary (which must listen on TCP), stopped by PID when t ends.
// It skips t (fails it under CI=true) when redis-sentinel is missing.
func StartSentinel(t testing.TB, primary *Server, o SentinelOptions) *Sentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		testenv.SkipOrFail(t, "redis-sentinel is not installed (apt-get install redis-sentinel)")
	}
	if primary.Addr == "" {
		t.Fatal("redistest: a sentinel watches a primary on TCP (Options.TCP)")
	}
	if o.Quorum == 0 {
		o.Quorum = 2
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 10 * time.Second
	}
	dir, err := os.MkdirTemp("", "rcv-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := freePort(t)
	host, pport, _ := net.SplitHostPort(primary.Addr)
	// sentinel rewrites its config file: it must be its own, writable
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nloglevel notice\ndaemonize no\n"+
		"sentinel monitor %s %s %s %d\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s %d\n"+
		"sentinel parallel-syncs %s 1\n",
		port, dir, filepath.Join(dir, "sentinel.log"),
		o.Master, host, pport, o.Quorum,
		o.Master, o.DownAfter.Milliseconds(),
		o.Master, o.FailoverTimeout.Milliseconds(),
		o.Master)
	for _, u := range o.Users {
		conf += u + "\n"
	}
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Sentinel{t: t, dir: dir, Addr: "127.0.0.1:" + strconv.Itoa(port)}
	s.cmd = exec.Command("redis-sentinel", path)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting redis-sentinel: %v", err)
	}
	t.Cleanup(s.Kill)
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Protocol: 2})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-sentinel did not answer in 30s: %v\n%s", err, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Master returns the primary's address as this sentinel sees it.
func (s *Sentinel) Master(name string) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Protocol: 2})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.GetMasterAddrByName(ctx, name).Result()
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("sentinel %s: master %q: reply %q", s.Addr, name, v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// Log returns the sentinel's log file.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log")) // best effort, for failure messages
	return string(b)
}

// Kill ends the sentinel with SIGKILL and waits for it.
func (s *Sentinel) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // already exited is fine: Wait reports it
	_ = s.cmd.Wait()         // its exit status is the signal we sent
	s.cmd = nil
}

// WaitReady waits up to 60s until this sentinel sees the primary name with
// replicas replicas and others other sentinels: only then can the
// sentinels agree on a failover and pick a replica.
func (s *Sentinel) WaitReady(name string, replicas, others int) {
	s.t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Protocol: 2})
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := c.Master(ctx, name).Result()
		cancel()
		if err == nil && m["num-slaves"] == strconv.Itoa(replicas) && m["num-other-sentinels"] == strconv.Itoa(others) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sentinel %s: after 60s master %q shows %v (err %v), want %d replicas and %d other sentinels\n%s",
				s.Addr, name, m, err, replicas, others, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
