package examples_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/recidivist/recidivist/internal/testenv"
)

// installedBinary is the path the units run recidivist from.
const installedBinary = "/usr/local/bin/recidivist"

var units = []string{"recidivist.service", "recidivist-restore.service"}

// systemdAnalyze returns the path of systemd-analyze, or skips the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.SkipOrFail(t, "systemd-analyze is not installed (apt-get install systemd)")
	}
	return path
}

// buildDir holds the binary built once for the whole test run; TestMain
// removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "recidivist-examples-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating the build directory: %v\n", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "removing %s: %v\n", dir, err)
	}
	os.Exit(code)
}

// build builds ./cmd/recidivist into buildDir, the first time it is called.
var build = sync.OnceValue(func() error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "recidivist"), "./cmd/recidivist")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building ./cmd/recidivist: %w\n%s", err, out)
	}
	return nil
})

// buildBinary returns the path of ./cmd/recidivist, built once per test run
// however many tests ask for it.
func buildBinary(t *testing.T) string {
	t.Helper()
	if err := build(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(buildDir, "recidivist")
}

// installedCopies writes copies of the units into a temporary directory with
// ExecStart pointing at bin instead of /usr/local/bin/recidivist (systemd-analyze
// verify checks that the binary exists) and returns the directory.
func installedCopies(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), installedBinary) {
			t.Fatalf("%s does not run %s", u, installedBinary)
		}
		out := strings.ReplaceAll(string(b), installedBinary, bin)
		if err := os.WriteFile(filepath.Join(dir, u), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readUnit parses a unit file into section → key → values, in file order.
func readUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: line %q is neither a section nor a setting", path, line)
			}
			unit[section][strings.TrimSpace(k)] = append(unit[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

func TestUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := installedCopies(t, buildBinary(t))
	var paths []string
	for _, u := range units {
		paths = append(paths, filepath.Join(dir, u))
	}
	// Both at once, so that the daemon's Wants= finds the restore unit.
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, paths...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("systemd-analyze verify:\n%s", out)
	if err != nil {
		t.Fatalf("systemd-analyze verify failed: %v", err)
	}
	// verify also loads the units ours depend on and may warn about those on
	// some hosts; any line about ours is a defect of ours.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, "recidivist") {
			t.Errorf("systemd-analyze verify warns about our units: %s", line)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+\.[0-9]+) (\S+)`)

func TestUnitsAreHardenedToAnExposureBelowFive(t *testing.T) {
	analyze := systemdAnalyze(t)
	if out, err := exec.Command(analyze, "security", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--offline") {
		testenv.SkipOrFail(t, "this systemd-analyze has no security --offline (systemd older than 250)")
	}
	dir := installedCopies(t, buildBinary(t))
	for _, u := range units {
		t.Run(u, func(t *testing.T) {
			out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", filepath.Join(dir, u)).CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze security --offline=true %s: %v\n%s", u, err, out)
			}
			m := exposureRE.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("no overall exposure level in the output:\n%s", out)
			}
			score, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exposure of %s: %s %s", u, m[2], m[3])
			if score >= 5.0 {
				t.Errorf("exposure of %s is %.1f %s; want below 5.0 (OK or better):\n%s", u, score, m[3], out)
			}
		})
	}
}

func TestUnitsRunCommandsTheBinaryHas(t *testing.T) {
	bin := buildBinary(t)
	for _, u := range units {
		unit := readUnit(t, filepath.Join("systemd", u))
		for _, exe := range unit["Service"]["ExecStart"] {
			fields := strings.Fields(exe)
			if fields[0] != installedBinary {
				t.Errorf("%s runs %q, not %s", u, exe, installedBinary)
				continue
			}
			args := append(fields[1:], "--help")
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Errorf("%s runs %q, but `recidivist %s` fails: %v\n%s", u, exe, strings.Join(args, " "), err, out)
			}
		}
	}
}

func TestUnitsKeepTheirContract(t *testing.T) {
	daemon := readUnit(t, filepath.Join("systemd", "recidivist.service"))
	restore := readUnit(t, filepath.Join("systemd", "recidivist-restore.service"))
	tests := []struct {
		name    string
		unit    map[string]map[string][]string
		section string
		key     string
		want    []string // every one of these words is in the key's values
		only    bool     // and no other word is
	}{
		{"the_daemon_tells_systemd_when_its_blocks_are_in_force", daemon, "Service", "Type", []string{"notify"}, false},
		{"the_daemon_runs_recidivist_run", daemon, "Service", "ExecStart", []string{installedBinary, "run"}, false},
		{"the_daemon_is_restarted_when_it_fails", daemon, "Service", "Restart", []string{"on-failure"}, false},
		{"the_daemon_pulls_in_the_boot_restore", daemon, "Unit", "Wants", []string{"recidivist-restore.service"}, false},
		{"the_daemon_starts_after_fail2ban_and_the_restore", daemon, "Unit", "After", []string{"fail2ban.service", "network-pre.target", "recidivist-restore.service"}, false},
		{"the_daemon_reloads_on_sighup", daemon, "Service", "ExecReload", []string{"-HUP", "$MAINPID"}, false},
		{"the_daemon_keeps_only_the_network_capabilities", daemon, "Service", "CapabilityBoundingSet", []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}, true},
		{"the_daemon_hands_those_capabilities_to_iptables", daemon, "Service", "AmbientCapabilities", []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}, true},
		{"the_daemon_sees_the_file_system_read_only", daemon, "Service", "ProtectSystem", []string{"strict"}, false},
		{"the_daemon_may_write_its_state_dir_and_the_xtables_lock", daemon, "Service", "ReadWritePaths", []string{"/var/lib/recidivist", "-/run/xtables.lock"}, false},
		{"the_daemon_state_dir_is_private", daemon, "Service", "StateDirectoryMode", []string{"0700"}, false},
		{"the_daemon_may_use_netlink_and_inet_sockets", daemon, "Service", "RestrictAddressFamilies", []string{"AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6"}, false},
		{"the_daemon_is_enabled_for_multi_user_boots", daemon, "Install", "WantedBy", []string{"multi-user.target"}, false},
		{"the_restore_runs_once_and_counts_as_active", restore, "Service", "Type", []string{"oneshot"}, false},
		{"the_restore_stays_active_after_it_exits", restore, "Service", "RemainAfterExit", []string{"yes"}, false},
		{"the_restore_runs_recidivist_restore", restore, "Service", "ExecStart", []string{installedBinary, "restore"}, false},
		{"the_restore_runs_before_the_default_dependencies_would_allow", restore, "Unit", "DefaultDependencies", []string{"no"}, false},
		{"the_restore_finishes_before_any_interface_comes_up", restore, "Unit", "Before", []string{"network-pre.target"}, false},
		{"the_restore_loads_the_sets_before_any_firewall_loader_references_them", restore, "Unit", "Before", []string{"netfilter-persistent.service", "iptables.service", "ip6tables.service", "ufw.service", "firewalld.service", "nftables.service", "docker.service"}, false},
		{"the_restore_pulls_in_network_pre", restore, "Unit", "Wants", []string{"network-pre.target"}, false},
		{"the_restore_waits_for_local_file_systems", restore, "Unit", "After", []string{"local-fs.target"}, false},
		{"the_restore_is_enabled_for_multi_user_boots", restore, "Install", "WantedBy", []string{"multi-user.target"}, false},
		{"the_restore_keeps_only_the_network_capabilities", restore, "Service", "CapabilityBoundingSet", []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var words []string
			for _, v := range tt.unit[tt.section][tt.key] {
				words = append(words, strings.Fields(v)...)
			}
			for _, w := range tt.want {
				if !slices.Contains(words, w) {
					t.Errorf("[%s] %s = %q lacks %q", tt.section, tt.key, words, w)
				}
			}
			if tt.only && len(words) != len(tt.want) {
				t.Errorf("[%s] %s = %q, want only %q", tt.section, tt.key, words, tt.want)
			}
		})
	}
}
