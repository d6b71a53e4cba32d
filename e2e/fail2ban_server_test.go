package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/recidivist/recidivist/internal/testenv"
)

// waitF2B is how long the tests wait for fail2ban to act (start, ban,
// unban, stop): it acts within a second or two on an idle machine, far
// slower on a loaded one; only a fail2ban that does not act at all should
// fail a test.
const waitF2B = 90 * time.Second

// fail2ban is a throwaway fail2ban-server in a test's network namespace,
// with its own copy of the stock configuration, socket, pid file, database
// and log: never the system service, never the host's namespace.
type fail2ban struct {
	ns                        string
	conf, sock, pid           string
	log, authLog, mailLog, db string
	server                    *proc
	pids                      int // last pid of a service log line
}

// requireTool skips t when the program name is not installed, or fails it
// under CI=true.
func requireTool(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("%s is not installed (%s)", name, install))
	}
}

// newFail2ban writes a configuration directory for a fail2ban-server in
// namespace ns: the stock /etc/fail2ban filters and actions plus
// testdata/fail2ban's fail2ban.local and jail.local. Its socket path must stay short, so it lives in a temp dir of
// its own rather than under t.TempDir's long name.
func newFail2ban(t *testing.T, ns string) *fail2ban {
	t.Helper()
	requireTool(t, "fail2ban-server", "apt-get install -y fail2ban")
	dir, err := os.MkdirTemp("", "f2b-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	f := &fail2ban{
		ns:      ns,
		conf:    filepath.Join(dir, "etc"),
		sock:    filepath.Join(dir, "f2b.sock"),
		pid:     filepath.Join(dir, "f2b.pid"),
		log:     filepath.Join(dir, "fail2ban.log"),
		authLog: filepath.Join(dir, "auth.log"),
		mailLog: filepath.Join(dir, "mail.log"),
		db:      filepath.Join(dir, "fail2ban.sqlite3"),
	}
	if err := copyStockConfig("/etc/fail2ban", f.conf); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.authLog, f.mailLog} {
		if err := os.WriteFile(p, nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	fields := map[string]string{
		"Log": f.log, "Socket": f.sock, "PidFile": f.pid, "DB": f.db,
		"AuthLog": f.authLog, "MailLog": f.mailLog,
	}
	for _, name := range []string{"fail2ban.local", "jail.local"} {
		if err := renderTemplate(filepath.Join("testdata", "fail2ban", name), filepath.Join(f.conf, name), fields); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// copyStockConfig copies fail2ban's own configuration from src to dst,
// leaving out jail.d and fail2ban.d: the distribution's local choices
// (Debian enables sshd on the systemd journal there) are not ours.
func copyStockConfig(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && (rel == "jail.d" || rel == "fail2ban.d"):
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return fs.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// renderTemplate fills the text/template at src with fields into dst.
func renderTemplate(src, dst string, fields map[string]string) error {
	tmpl, err := template.New(filepath.Base(src)).Option("missingkey=error").ParseFiles(src)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", src, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, fields); err != nil {
		return fmt.Errorf("filling %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

// start runs fail2ban-server in the foreground inside the namespace and
// waits until both jails report started (in this run: the log may hold an
// earlier run's lines).
func (f *fail2ban) start(t *testing.T) {
	t.Helper()
	before := f.count(t, "Jail 'postfix-sasl' started")
	f.server = startIn(t, f.ns, "fail2ban-server", "-c", f.conf, "-s", f.sock, "-p", f.pid, "-x", "-f", "start")
	f.waitCount(t, "Jail 'sshd' started", before+1, waitF2B)
	f.waitCount(t, "Jail 'postfix-sasl' started", before+1, waitF2B)
}

// unban asks the server to lift jail's bans of addrs, as an admin would.
func (f *fail2ban) unban(t *testing.T, jail string, addrs ...string) {
	t.Helper()
	args := append([]string{"-c", f.conf, "-s", f.sock, "set", jail, "unbanip"}, addrs...)
	cmd := exec.Command("ip", inNS(f.ns, "fail2ban-client", args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fail2ban-client set %s unbanip: %v\n%s", jail, err, out)
	}
}

// stop asks the server to stop through its socket and waits for it to exit.
func (f *fail2ban) stop(t *testing.T) {
	t.Helper()
	cmd := exec.Command("ip", inNS(f.ns, "fail2ban-client", "-c", f.conf, "-s", f.sock, "stop")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fail2ban-client stop: %v\n%s", err, out)
	}
	select {
	case <-f.server.done:
	case <-time.After(waitF2B):
		t.Fatalf("fail2ban-server did not exit within %v of stop:\n%s", waitF2B, f.server.out)
	}
}

// count returns how many lines of fail2ban's log contain substr.
func (f *fail2ban) count(t *testing.T, substr string) int {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// waitCount waits until fail2ban's log has n lines containing substr.
func (f *fail2ban) waitCount(t *testing.T, substr string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for f.count(t, substr) < n {
		if f.server != nil && f.server.exited() {
			t.Fatalf("fail2ban-server exited (%v) while waiting for %q:\n%s", f.server.err, substr, f.server.out)
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(f.log) //nolint:errcheck // shown for diagnosis only
			t.Fatalf("fail2ban's log has not %d lines with %q after %v:\n%s", n, substr, within, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fail appends n failed logins of addr to the service log of jail, in the
// format the stock 1.0.2 filters match (checked with fail2ban-regex), with
// the current time. Every line gets a pid of its own: the sshd filter ties
// lines of one pid together as one session and would credit a second
// address's failures to the first.
func (f *fail2ban) fail(t *testing.T, jail, addr string, n int) {
	t.Helper()
	var lines []string
	for i := range n {
		f.pids++
		pid := 2000 + f.pids
		stamp := time.Now().Format(time.Stamp)
		switch jail {
		case "sshd":
			lines = append(lines, fmt.Sprintf("%s vm sshd[%d]: Failed password for root from %s port %d ssh2", stamp, pid, addr, 50000+i))
		case "postfix-sasl":
			lines = append(lines, fmt.Sprintf("%s vm postfix/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", stamp, pid, addr))
		default:
			t.Fatalf("no service log line for jail %s", jail)
		}
	}
	path := f.authLog
	if jail == "postfix-sasl" {
		path = f.mailLog
	}
	appendLines(t, path, lines...)
}
