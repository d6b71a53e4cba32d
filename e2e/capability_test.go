package e2e

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivilege_CAP_NET_ADMIN_without_root_is_enough_for_restore_ban_and_unban
// runs the kernel-changing commands as user nobody holding only
// CAP_NET_ADMIN and CAP_NET_RAW (what examples/systemd grants; iptables'
// set match opens a raw socket), inside a namespace of their
// own: the privilege the kernel asks for is the one recidivist asks for, so
// none of them is refused and each reaches the sets. Without the capability
// the same user is refused with the fix named.
func TestPrivilege_CAP_NET_ADMIN_without_root_is_enough_for_restore_ban_and_unban(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	ns := newNamespace(t, "capnet")
	// nobody must reach the binary, the config and the state dir: a
	// directory of its own, not under t.TempDir's 0700 parents.
	dir, err := os.MkdirTemp("", "rcdv-cap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "recidivist")
	conf := filepath.Join(dir, "recidivist.toml")
	state := filepath.Join(dir, "state")
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("set-name = \"rcdvcap\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "blocklist"), []byte("198.51.100.7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{state, filepath.Join(state, "blocklist")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	as := func(caps string, args ...string) outcome {
		t.Helper()
		priv := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + caps, "--ambient-caps=" + caps, bin}
		args = append(args, "--config", conf, "--state-dir", state)
		return runStatusCmd(t, exec.Command("ip", inNS(ns, priv[0], append(priv[1:], args...)...)...))
	}

	if got := as("+net_raw", "restore"); got.code != 1 || !strings.Contains(got.stderr, "CAP_NET_ADMIN") {
		t.Errorf("restore as nobody without CAP_NET_ADMIN: exit %d, want 1 and a message naming CAP_NET_ADMIN:\n%s", got.code, got.stderr)
	}

	if got := as("+net_admin,+net_raw", "restore"); got.code != 0 {
		t.Fatalf("restore as nobody with CAP_NET_ADMIN: exit %d, want 0:\n%s", got.code, got.stderr)
	}
	if !inSet(t, ns, "rcdvcap", netip.MustParseAddr("198.51.100.7")) {
		t.Errorf("restore as nobody with CAP_NET_ADMIN did not load the mirror into the set")
	}
	banned := netip.MustParseAddr("192.0.2.9")
	if got := as("+net_admin,+net_raw", "ban", banned.String()); got.code != 0 {
		t.Fatalf("ban as nobody with CAP_NET_ADMIN: exit %d, want 0:\n%s", got.code, got.stderr)
	}
	if !inSet(t, ns, "rcdvcap", banned) {
		t.Errorf("ban as nobody with CAP_NET_ADMIN left %s out of the set", banned)
	}
	if got := as("+net_admin,+net_raw", "unban", banned.String()); got.code != 0 {
		t.Fatalf("unban as nobody with CAP_NET_ADMIN: exit %d, want 0:\n%s", got.code, got.stderr)
	}
	if inSet(t, ns, "rcdvcap", banned) {
		t.Errorf("unban as nobody with CAP_NET_ADMIN left %s in the set", banned)
	}
}
