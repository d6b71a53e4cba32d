package doctor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/e2etest"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/statedir"
)

// world is a healthy host for the doctor: a log with a Ban line, fail2ban
// configured to write it at INFO, privilege, iptables, sets and rules that
// hold exactly the mirror, no other daemon. Each test breaks one thing.
type world struct {
	dir    string
	cfg    *config.Config
	fake   *ipsettest.Fake
	doctor *Doctor
	out    *bytes.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults() // what a command gets with no flag, variable or file
	cfg.Logs = []string{filepath.Join(dir, "fail2ban.log")}
	cfg.StateDir = filepath.Join(dir, "state")
	write(t, cfg.Logs[0], e2etest.BanLine(time.Now().Add(-time.Minute), "sshd", netip.MustParseAddr("192.0.2.10"))+"\n")
	write(t, filepath.Join(dir, "fail2ban", "fail2ban.conf"), "[Definition]\nloglevel = INFO\nlogtarget = "+cfg.Logs[0]+"\n")
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
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
	out := &bytes.Buffer{}
	d := New(cfg, out, Options{Fail2banDir: filepath.Join(dir, "fail2ban")})
	d.capEff = func() (uint64, error) { return 1 << privilege.CapNetAdmin, nil }
	d.lookPath = func(bin string) (string, error) { return "/usr/sbin/" + bin, nil }
	d.store = func() (ipsetstore.Store, error) { return fake, nil }
	d.procDir = filepath.Join(dir, "proc")
	// The other firewall tools of a plain host: iptables-nft holding
	// recidivist's rules only, no iptables-legacy, no Docker, no
	// nftables.conf. The host's own are never read.
	d.iptablesVersion = func() (string, error) { return "iptables v1.8.9 (nf_tables)", nil }
	d.iptablesSave = func(v ipsetstore.Variant) (string, bool, error) { return "", v == ipsetstore.VariantNft, nil }
	d.nftTables = func() ([]string, error) { return nil, nil }
	d.nftablesConf = filepath.Join(dir, "nftables.conf")
	d.systemdDir = filepath.Join(dir, "systemd")
	return &world{dir: dir, cfg: cfg, fake: fake, doctor: d, out: out}
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

// fakeDaemon makes process pid of the doctor's /proc hold a daemon lock
// that says lock: an open file STATE-DIR/lock in /proc/PID/fd, which this
// test process holds locked as that daemon would.
func (w *world) fakeDaemon(t *testing.T, pid int, lock string) {
	t.Helper()
	dir := filepath.Join(w.dir, "daemons", fmt.Sprint(pid))
	write(t, statedir.Lock(dir), lock)
	f, err := os.Open(statedir.Lock(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fd := filepath.Join(w.dir, "proc", fmt.Sprint(pid), "fd")
	if err := os.MkdirAll(fd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(statedir.Lock(dir), filepath.Join(fd, "3")); err != nil {
		t.Fatal(err)
	}
}

// run runs every check and returns the number of problems found.
func (w *world) run() int {
	return w.doctor.Run(context.Background()).Problems
}

// givesFix reports whether one of the doctor's "fix:" lines in out says fix.
func givesFix(out, fix string) bool {
	for line := range strings.Lines(out) {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "fix: "); ok && strings.Contains(f, fix) {
			return true
		}
	}
	return false
}

// TestMain lets the test binary stand in for a running daemon process.
func TestMain(m *testing.M) {
	if os.Getenv("RECIDIVIST_TEST_IDLE") == "1" {
		if dir := os.Getenv("RECIDIVIST_TEST_LOCK"); dir != "" {
			// Held until the process exits, as a daemon holds it.
			if _, err := statedir.Acquire(dir, os.Getenv("RECIDIVIST_TEST_SET_NAME")); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
