package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// coexistSetup writes an empty config, an empty fail2ban log and a state
// dir whose mirror blocks addr; it returns the flags every command gets.
func coexistSetup(t *testing.T, set string, addr netip.Addr, chains string) (common []string, log string) {
	t.Helper()
	dir := t.TempDir()
	conf, state := filepath.Join(dir, "recidivist.toml"), filepath.Join(dir, "state")
	log = filepath.Join(dir, "fail2ban.log")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	for f, body := range map[string]string{conf: "", log: "", filepath.Join(state, "blocklist"): addr.String() + " # by hand\n"} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--config", conf, "--state-dir", state, "--set-name", set, "--chain", chains}, log
}

// inNamespaceRun runs a tool in namespace ns, failing t on error.
func inNamespaceRun(t *testing.T, ns, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", inNS(ns, name, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns, err, out)
	}
}

// hasOurRule reports whether iptables' (or ip6tables') chain in ns holds a
// rule matching set.
func hasOurRule(ns, chain, set string, six bool) (bool, error) {
	rules, err := chainRules(ns, chain, six)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(rules, func(r string) bool { return strings.Contains(r, "--match-set "+familySet(set, six)+" src") }), nil
}

func TestCoexist_DOCKER_USER_missing_at_boot_is_pending_and_gets_the_rule_once_Docker_creates_it(t *testing.T) {
	ns := newNamespace(t, "pend")
	bin := binary(t)
	const set = "rcdvpend"
	blocked := netip.MustParseAddr("192.0.2.77")
	common, log := coexistSetup(t, set, blocked, "INPUT,DOCKER-USER")

	// Boot: the restore unit runs before Docker.
	runIn(t, ns, bin, append([]string{"restore"}, common...)...)
	if !inSet(t, ns, set, blocked) {
		t.Fatal("restore with DOCKER-USER missing did not load the mirror")
	}
	if ok, err := hasOurRule(ns, "INPUT", set, false); err != nil || !ok {
		t.Fatalf("restore with DOCKER-USER missing left INPUT without its rule (%v)", err)
	}
	var st struct {
		Kernel struct {
			Rules []struct {
				Chain   string `json:"chain"`
				Family  string `json:"family"`
				Pending bool   `json:"pending"`
			} `json:"rules"`
		} `json:"kernel"`
	}
	out := runIn(t, ns, bin, append([]string{"status", "--json"}, common...)...)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var pending []string
	for _, r := range st.Kernel.Rules {
		if r.Pending {
			pending = append(pending, r.Chain+"/"+r.Family)
		}
	}
	if !slices.Equal(pending, []string{"DOCKER-USER/inet", "DOCKER-USER/inet6"}) {
		t.Errorf("status --json pending rules = %q, want DOCKER-USER of both families\n%s", pending, out)
	}

	d := startIn(t, ns, bin, append([]string{"run", "--log", log, "--reconcile-interval", "1s"}, common...)...)
	eventually(t, time.Now(), 30*time.Second, "the daemon puts the blocklist in force", d, func() (bool, error) {
		if d.exited() {
			return false, fmt.Errorf("exited with DOCKER-USER missing (%v)", d.err)
		}
		return strings.Contains(d.out.String(), "blocklist in force"), nil
	})

	// Docker starts and creates its chain (IPv4 only, as without ip6tables: true).
	inNamespaceRun(t, ns, "iptables", "-w", "-N", "DOCKER-USER")
	inNamespaceRun(t, ns, "iptables", "-w", "-A", "DOCKER-USER", "-j", "RETURN")
	inNamespaceRun(t, ns, "iptables", "-w", "-I", "FORWARD", "-j", "DOCKER-USER")
	took := eventually(t, time.Now(), 30*time.Second, "the rule in the new DOCKER-USER", d, func() (bool, error) {
		return hasOurRule(ns, "DOCKER-USER", set, false)
	})
	t.Logf("coexist: rule in DOCKER-USER %v after the chain appeared (reconcile-interval 1s)", took.Round(time.Millisecond))
	rules, err := chainRules(ns, "DOCKER-USER", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || !strings.Contains(rules[0], "--match-set "+set+" src") {
		t.Errorf("iptables -S DOCKER-USER = %q, want our rule above Docker's RETURN", rules)
	}
	d.alive(t)
	d.term(t)
	if n := strings.Count(d.out.String(), "chain does not exist yet"); n != 1 {
		t.Errorf("the daemon warned of the pending chain %d times, want once:\n%s", n, d.out)
	}
}

// ufwRecipe returns examples/ufw/after.init with its recidivist path
// replaced by bin, written to a temp file.
func ufwRecipe(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "ufw", "after.init"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "/usr/local/bin/recidivist"
	if !strings.Contains(string(b), installed+" restore --rules-only") {
		t.Fatalf("examples/ufw/after.init does not run %s restore --rules-only", installed)
	}
	path := filepath.Join(t.TempDir(), "after.init")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), installed, bin)), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCoexist_the_ufw_after_init_recipe_puts_the_rules_back_after_ufw_flushed_the_builtins(t *testing.T) {
	ns := newNamespace(t, "ufw")
	bin := binary(t)
	const set = "rcdvufw"
	blocked, daemons := netip.MustParseAddr("192.0.2.78"), netip.MustParseAddr("198.51.100.9")
	common, _ := coexistSetup(t, set, blocked, "INPUT")
	runIn(t, ns, bin, append([]string{"restore"}, common...)...)
	inNamespaceRun(t, ns, "ipset", "add", set, daemons.String()) // put in by the daemon, not in the mirror yet
	script := ufwRecipe(t, bin)
	hook := func(arg string) (stderr string) {
		t.Helper()
		cmd := exec.Command("ip", inNS(ns, "sh", script, arg)...)
		// The recipe's command line as installed; the settings come from
		// the environment, as recidivist's keys all do.
		cmd.Env = append(os.Environ(), "RECIDIVIST_CONFIG="+common[1], "RECIDIVIST_STATE_DIR="+common[3], "RECIDIVIST_SET_NAME="+set, "RECIDIVIST_CHAIN=INPUT")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("after.init %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}

	// ufw start with MANAGE_BUILTINS=yes: flush_builtins, then its own
	// chains appended to INPUT, then after.init start.
	for _, tool := range []string{"iptables", "ip6tables"} {
		inNamespaceRun(t, ns, tool, "-w", "-F", "INPUT")
		inNamespaceRun(t, ns, tool, "-w", "-N", "ufw-before-input")
		inNamespaceRun(t, ns, tool, "-w", "-A", "INPUT", "-j", "ufw-before-input")
	}
	if ok, err := rulesInPlace(ns, set); err != nil || ok {
		t.Fatalf("the rules survived the simulated flush (%v); the test shows nothing", err)
	}
	hook("start")
	checkRules(t, ns, set, true)
	for _, six := range []bool{false, true} {
		if rules, err := chainRules(ns, "INPUT", six); err != nil || len(rules) != 2 || !strings.Contains(rules[1], "ufw-before-input") {
			t.Errorf("INPUT (ipv6 %v) after after.init start = %q (%v), want ours above ufw's jump", six, rules, err)
		}
	}
	if !inSet(t, ns, set, blocked) || !inSet(t, ns, set, daemons) {
		t.Error("after.init changed the set's entries; --rules-only must leave them")
	}
	hook("status") // the other verbs do nothing and succeed

	// Sets gone (a teardown, or ufw before the restore unit): the hook
	// must not fail ufw, and creates no set.
	runIn(t, ns, bin, append([]string{"teardown"}, common...)...)
	out := hook("start")
	if !strings.Contains(out, "recidivist restore") {
		t.Errorf("after.init start without the sets does not say to run recidivist restore:\n%s", out)
	}
	if members, err := setMembers(ns, set); err == nil {
		t.Errorf("after.init start without the sets created set %s (%v)", set, members)
	}
}
