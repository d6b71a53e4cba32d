// Package redistest starts private redis-server instances for tests: on a
// unix socket in a temp dir (a path socket crosses network namespaces) or on
// 127.0.0.1 with a free port, never on 6379 and never a system service,
// without persistence unless asked, and stopped by PID when the test ends.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recidivist/recidivist/internal/testenv"
)

// Server is one private redis-server.
type Server struct {
	t    testing.TB
	dir  string
	args []string
	cmd  *exec.Cmd
	// Socket is the unix socket path ("" when TCP).
	Socket string
	// Addr is 127.0.0.1:PORT ("" on a unix socket).
	Addr string
	tls  *tls.Config // of the admin client, when the server speaks TLS
}

// Options change how the server runs.
type Options struct {
	TCP bool // listen on 127.0.0.1 with a free port instead of a unix socket
	// TLS, when its files are set, serves TLS only, on 127.0.0.1 with a
	// free port (the certificate must name 127.0.0.1); clients need not
	// present a certificate.
	TLS struct{ Cert, Key, CA string }
	AOF bool // appendonly yes, appendfsync everysec
	// ReplicaOf, when set, makes the server a replica of that (TCP)
	// server; Start returns once the replication link is up.
	ReplicaOf *Server
	Extra     []string // more redis-server arguments
}

// Start starts a redis-server for t, or skips t (fails it under CI=true)
// when redis-server is not installed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.SkipOrFail(t, "redis-server is not installed (apt-get install redis-server)")
	}
	// a short directory: a unix socket path is limited to 107 bytes
	dir, err := os.MkdirTemp("", "rcv-redis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, dir: dir}
	s.args = []string{"--dir", dir, "--save", "", "--daemonize", "no", "--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log")}
	switch {
	case o.TLS.Cert != "":
		port := strconv.Itoa(freePort(t))
		s.Addr = "127.0.0.1:" + port
		s.args = append(s.args, "--bind", "127.0.0.1", "--port", "0", "--tls-port", port,
			"--tls-cert-file", o.TLS.Cert, "--tls-key-file", o.TLS.Key, "--tls-ca-cert-file", o.TLS.CA, "--tls-auth-clients", "no")
		pem, err := os.ReadFile(o.TLS.CA)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	case o.TCP:
		s.Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
		s.args = append(s.args, "--bind", "127.0.0.1", "--port", s.Addr[strings.LastIndex(s.Addr, ":")+1:])
	default:
		s.Socket = filepath.Join(dir, "redis.sock")
		s.args = append(s.args, "--port", "0", "--unixsocket", s.Socket, "--unixsocketperm", "777")
	}
	if o.AOF {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "everysec")
	}
	if o.ReplicaOf != nil {
		if s.Addr == "" || o.ReplicaOf.Addr == "" {
			t.Fatal("redistest: a replica and its primary must both listen on TCP (Options.TCP)")
		}
		host, port, _ := net.SplitHostPort(o.ReplicaOf.Addr)
		s.args = append(s.args, "--replicaof", host, port)
	}
	s.args = append(s.args, o.Extra...)
	s.start()
	t.Cleanup(s.Kill)
	if o.ReplicaOf != nil {
		s.waitInfo("replication", "master_link_status:up")
	}
	return s
}

// waitInfo polls INFO section until it holds line, for up to 60s.
func (s *Server) waitInfo(section, line string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := s.Client()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := c.Info(ctx, section).Result()
		cancel()
		c.Close()
		if err == nil && strings.Contains(info, line) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server %s: INFO %s has no %q after 60s (err %v):\n%s\n%s", s.Addr, section, line, err, info, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p != 6379 {
			return p
		}
	}
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := s.Client()
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not answer in 30s: %v\n%s", err, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns the server's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log")) // best effort, for failure messages
	return string(b)
}

// URL is the fleet-redis value that reaches the server.
func (s *Server) URL() string {
	switch {
	case s.Socket != "":
		return "unix://" + s.Socket
	case s.tls != nil:
		return "rediss://" + s.Addr
	}
	return "redis://" + s.Addr
}

// Client returns a new client of the server; the caller closes it.
func (s *Server) Client() *redis.Client {
	if s.Socket != "" {
		return redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, Protocol: 2})
	}
	return redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, TLSConfig: s.tls})
}

// PID is the running server's process id (0 when stopped).
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends the server with SIGKILL and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a frozen server must be able to die; it may be gone already
	_ = s.cmd.Process.Kill()                  // already exited is fine: Wait reports it
	_ = s.cmd.Wait()                          // its exit status is the signal we sent
	s.cmd = nil
}

// Restart kills the server and starts it again with the same arguments
// (empty without AOF; with AOF, what it had written).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Freeze stops the server with SIGSTOP: connections are accepted by the
// kernel, nothing answers.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signalling redis-server: %v", err)
	}
}

// Do runs one command on a fresh connection and returns its reply.
func (s *Server) Do(args ...any) (any, error) {
	c := s.Client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Result()
}

// Version returns the server's redis_version.
func (s *Server) Version() string {
	c := s.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}
