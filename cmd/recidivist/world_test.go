package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/statedir"
)

// world is a healthy host for the commands: a log with a Ban line, sets and
// rules (a fake) that hold exactly the mirror. Each test breaks one thing.
type world struct {
	dir  string
	cfg  *config.Config
	fake *ipsettest.Fake
}

func f2bLine(at time.Time, jail, addr string) string {
	return fmt.Sprintf("%s,%03d fail2ban.actions        [9091]: NOTICE  [%s] Ban %s\n",
		at.Format("2006-01-02 15:04:05"), at.Nanosecond()/1e6, jail, addr)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults() // what a command gets with no flag, variable or file
	cfg.Logs = []string{filepath.Join(dir, "fail2ban.log")}
	cfg.StateDir = filepath.Join(dir, "state")
	write(t, cfg.Logs[0], f2bLine(time.Now().Add(-time.Minute), "sshd", "192.0.2.10"))
	if err := os.Mkdir(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mirror := blocklist.Open(statedir.Mirror(cfg.StateDir))
	entries, err := mirror.Add(blocklist.Entry{Prefix: netip.MustParsePrefix("203.0.113.7/32"), Added: time.Now(), Jails: []string{"sshd"}, Bans: 3},
		blocklist.Entry{Prefix: netip.MustParsePrefix("2001:db8::7/128"), Added: time.Now(), Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := ipsettest.New(host.StoreConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Restore(fake, entries, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return &world{dir: dir, cfg: cfg, fake: fake}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
