package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/testenv"
	"github.com/recidivist/recidivist/statedir"
)

// goroutinesOf returns the stacks of the running goroutines that are in a
// function whose name contains any of names.
func goroutinesOf(names ...string) string {
	var sb strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&sb, 2); err != nil {
		return err.Error()
	}
	var out []string
	for _, g := range strings.Split(sb.String(), "\n\n") {
		for _, n := range names {
			if strings.Contains(g, n) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

func TestRun_that_fails_to_start_leaves_no_metrics_listener_or_reloader_behind(t *testing.T) {
	dir := t.TempDir()
	logPath, stateDir := filepath.Join(dir, "fail2ban.log"), filepath.Join(dir, "state")
	for _, f := range []string{logPath, filepath.Join(dir, "recidivist.toml")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := statedir.Prepare(stateDir); err != nil {
		t.Fatal(err)
	}
	lock, err := statedir.Acquire(stateDir, "recidivist") // another daemon holds the state dir: Run fails at its start
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	var stdout, stderr testenv.Buffer
	code := run(context.Background(), []string{"recidivist", "run", "--config", filepath.Join(dir, "recidivist.toml"),
		"--dry-run", "--log", logPath, "--state-dir", stateDir, "--metrics-listen", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("run with the state dir locked by another: exit %d, want 1\n%s", code, stderr.String())
	}
	if left := goroutinesOf("reloadOnHUP", "serveMetrics", "metricsServer", "http.(*Server).Serve"); left != "" {
		t.Errorf("goroutines of the failed run still running after it returned:\n%s", left)
	}
	m := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("the metrics address was not logged:\n%s", stderr.String())
	}
	if c, err := net.Dial("tcp", m[1]); err == nil {
		c.Close()
		t.Errorf("the metrics listener %s of the failed run still accepts connections after it returned", m[1])
	}
}

// reloads records the configurations a reloader hands to the daemon.
type reloads struct {
	mu   sync.Mutex
	cfgs []*config.Config
}

func (r *reloads) Reload(cfg *config.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfgs = append(r.cfgs, cfg)
}

func TestReload_applies_log_level_log_format_and_metrics_listen_without_a_restart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "recidivist.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"recidivist", "run", "--config", file, "--state-dir", dir}
	write("log-level = \"info\"\n")
	cfg, err := freshConfig(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	var out testenv.Buffer
	logOut := newLogOutput(&out, cfg.LogLevel, cfg.LogFormat)
	logger := slog.New(logOut.handler()).With("log", "/var/log/fail2ban.log") // as the follower's
	srv := &metricsServer{handler: http.NotFoundHandler(), moves: make(chan move)}
	first, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.run(ctx, first) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	d := &reloads{}
	r := &reloader{args: args, cfg: cfg, log: logOut, metrics: srv, apply: d.Reload}

	logger.Debug("before the reload")
	if out.String() != "" {
		t.Fatalf("a debug record at log-level info was written: %s", out.String())
	}
	// Another free port to move to.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := probe.Addr().String()
	probe.Close()
	write("log-level = \"debug\"\nlog-format = \"json\"\nmetrics-listen = \"" + next + "\"\n")
	r.reload(ctx)

	logger.Debug("after the reload")
	if got := out.String(); !strings.Contains(got, `"msg":"after the reload"`) || !strings.Contains(got, `"log":"/var/log/fail2ban.log"`) {
		t.Errorf("after a reload to debug and json, a debug record of a derived logger reads %q, want it in JSON with its attribute", got)
	}
	if c, err := net.Dial("tcp", next); err != nil {
		t.Errorf("metrics not served on the reloaded metrics-listen %s: %v", next, err)
	} else {
		c.Close()
	}
	if c, err := net.Dial("tcp", first.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the old metrics address %s still accepts connections after the move", first.Addr())
	}
	if len(d.cfgs) != 1 || d.cfgs[0].LogLevel != slog.LevelDebug {
		t.Errorf("the daemon was handed %d configurations, want the one reloaded", len(d.cfgs))
	}
}
