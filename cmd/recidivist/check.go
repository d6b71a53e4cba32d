package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/f2bconf"
	"github.com/recidivist/recidivist/internal/fileperm"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/internal/sample"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

func checkCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "check",
		Usage: "find what keeps recidivist from working, and say how to fix it",
		Description: "check is the doctor. It checks, in order: the configuration; that every log is there,\n" +
			"readable and shows fail2ban's Ban lines (fail2ban's loglevel and logtarget in\n" +
			"/etc/fail2ban); the privilege to change the firewall (root or CAP_NET_ADMIN); the\n" +
			"iptables and ip6tables binaries; the kernel's ipset support; that the sets and the match\n" +
			"rules are in place; that the sets hold exactly the mirror; that no other recidivist\n" +
			"daemon manages the same sets; that the mirror is a regular file not writable by other\n" +
			"users, and every line of it is in force (a bad line, or one the ignore list, loopback,\n" +
			"0.0.0.0/0, ::/0, non-unicast or an unmarked range wider than /16 or /32 refuses, is\n" +
			"listed with its file:line). Each\n" +
			"problem is printed with its fix. It changes nothing. Exit status 0 when all is well,\n" +
			"1 when a problem was found, 2 when the configuration itself is invalid.\n\n" +
			"Examples:\n" +
			"   sudo recidivist check\n" +
			"   recidivist check --config /etc/recidivist/recidivist.toml",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "fail2ban-config", Value: f2bconf.DefaultDir, Hidden: true, Usage: "fail2ban's configuration `DIR`"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			d := newDoctor(cfg, c.App.Writer)
			d.ctx = c.Context
			d.f2bDir = c.String("fail2ban-config")
			d.configFile = configFileUsed(c)
			n := d.run()
			if err := c.Context.Err(); err != nil {
				return fmt.Errorf("check did not finish: %w", err)
			}
			if n > 0 {
				return cli.Exit(fmt.Sprintf("%d problem(s) found", n), 1)
			}
			if d.warnings > 0 {
				fmt.Fprintf(c.App.Writer, "all checks passed, with %d warning(s) above\n", d.warnings)
				return nil
			}
			fmt.Fprintln(c.App.Writer, "all checks passed")
			return nil
		},
	})
}

// configFileUsed names the config file the settings came from, or "" when
// the default one is absent.
func configFileUsed(c *cli.Context) string {
	p := c.String("config")
	if p == "" {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		return "" // only the default path can be missing: Apply refuses a missing --config
	}
	return p
}

// doctor runs the checks of `recidivist check`. Its fields are the outside
// world it looks at, so that tests can replace each.
type doctor struct {
	ctx        context.Context // ends the checks early (Ctrl-C)
	cfg        *config.Config
	configFile string
	f2bDir     string
	out        io.Writer
	now        time.Time

	open     func(string) (*os.File, error)
	capEff   func() (uint64, error)           // the effective capability set
	lookPath func(string) (string, error)     // finds iptables and ip6tables
	store    func() (ipsetstore.Store, error) // the kernel side
	procDir  string                           // where to look for other daemons
	self     int                              // this process's PID

	// The mirror as run read it: the drift check and the mirror check both
	// look at it, and a big mirror is costly to read twice.
	mirror    []blocklist.Entry
	mirrorBad []*blocklist.LineError
	mirrorErr error

	problems int
	warnings int
}

func newDoctor(cfg *config.Config, out io.Writer) *doctor {
	return &doctor{
		ctx:      context.Background(),
		cfg:      cfg,
		f2bDir:   f2bconf.DefaultDir,
		out:      out,
		now:      time.Now(),
		open:     os.Open,
		capEff:   privilege.CapEff,
		lookPath: exec.LookPath,
		store: func() (ipsetstore.Store, error) {
			return host.Store(cfg, cfg.Backend)
		},
		procDir: "/proc",
		self:    os.Getpid(),
	}
}

func (d *doctor) ok(format string, a ...any) {
	fmt.Fprintf(d.out, "ok       "+format+"\n", a...)
}

func (d *doctor) note(format string, a ...any) {
	fmt.Fprintf(d.out, "note     "+format+"\n", a...)
}

func (d *doctor) problem(what, fix string) {
	d.problems++
	fmt.Fprintf(d.out, "PROBLEM  %s\n         fix: %s\n", what, fix)
}

// warn reports a risk that does not keep recidivist from working (it is
// no problem: the exit status stays 0), with what makes it go away.
func (d *doctor) warn(what, fix string) {
	d.warnings++
	fmt.Fprintf(d.out, "WARNING  %s\n         fix: %s\n", what, fix)
}

// run performs every check and returns the number of problems found. Once
// d.ctx ends it starts no further check.
func (d *doctor) run() int {
	d.problems, d.warnings = 0, 0
	stopped := func() bool { return d.ctx.Err() != nil }
	if stopped() {
		return d.problems
	}
	d.mirror, d.mirrorBad, d.mirrorErr = host.Mirror(d.cfg).Load()
	privileged, haveIptables := false, false
	for _, check := range []func(){
		d.checkConfig,
		d.checkExport,
		d.checkNotify,
		d.checkLogs,
		func() { privileged = d.checkPrivilege() },
		func() { haveIptables = d.checkIptables() },
		func() {
			if privileged {
				d.checkKernel(haveIptables)
			}
		},
		d.checkDaemons,
		d.checkStateFiles,
		d.checkMirror,
	} {
		if stopped() {
			break
		}
		check()
	}
	return d.problems
}

func (d *doctor) checkConfig() {
	for _, w := range d.cfg.Warnings {
		what, fix, _ := strings.Cut(w, "; ")
		d.problem("config: "+what, fix)
	}
	if d.configFile == "" {
		d.ok("config: no file at %s; built-in defaults, environment and flags are valid", config.DefaultPath)
		return
	}
	d.ok("config: %s is valid", d.configFile)
}

// checkExport reports the export's settings, which Load has validated (the
// listen address rules, the token file's mode).
func (d *doctor) checkExport() {
	cfg := d.cfg
	if cfg.ExportListen == "" {
		return
	}
	var auth []string
	if cfg.ExportTokenFile != "" {
		auth = append(auth, "token from "+cfg.ExportTokenFile+" (mode 0600 or stricter)")
	}
	if len(cfg.ExportAllow) > 0 {
		auth = append(auth, fmt.Sprintf("allow list of %d", len(cfg.ExportAllow)))
	}
	if len(auth) == 0 {
		d.note("export: %s serves the blocklist to any local user (loopback, no export-token-file or export-allow)", cfg.ExportListen)
		return
	}
	d.ok("export: %s serves the blocklist; clients need the %s", cfg.ExportListen, strings.Join(auth, " or the "))
}

// logTail is how much of the end of each log check reads for Ban lines.
const logTail = 4 << 20

func (d *doctor) checkLogs() {
	f2b, f2bErr := f2bconf.Read(d.f2bDir)
	switch {
	case errors.Is(f2bErr, fs.ErrNotExist):
		d.problem(fmt.Sprintf("fail2ban's configuration %s does not exist", d.f2bDir),
			"install fail2ban (apt-get install fail2ban): recidivist counts the bans it logs")
	case f2bErr != nil:
		d.problem(fmt.Sprintf("reading fail2ban's configuration: %v", f2bErr), "fix the file named above; fail2ban itself will not start with it either")
	}
	hides := false
	if f2bErr == nil {
		shows, err := f2bconf.ShowsBans(f2b.LogLevel)
		switch {
		case err != nil:
			d.problem(fmt.Sprintf("fail2ban's loglevel %q (%s) is not one fail2ban knows", f2b.LogLevel, from(f2b.LogLevelFrom)),
				"set loglevel = INFO under [Definition] in "+filepath.Join(d.f2bDir, "fail2ban.local")+", then fail2ban-client reload")
		case !shows:
			hides = true
			d.problem(fmt.Sprintf("fail2ban's loglevel = %s (%s) hides its NOTICE Ban lines: recidivist sees no bans", f2b.LogLevel, from(f2b.LogLevelFrom)),
				"set loglevel = INFO (or NOTICE) under [Definition] in "+filepath.Join(d.f2bDir, "fail2ban.local")+", then fail2ban-client reload")
		default:
			d.ok("fail2ban: loglevel %s shows Ban lines", f2b.LogLevel)
		}
		if t := f2b.LogTarget; strings.HasPrefix(t, "/") && !slices.Contains(d.cfg.Logs, t) {
			d.problem(fmt.Sprintf("fail2ban logs to %s (%s) but recidivist reads %s", t, from(f2b.LogTargetFrom), strings.Join(d.cfg.Logs, ", ")),
				"set log = \""+t+"\" in the recidivist config, or logtarget in fail2ban.local to the log recidivist reads")
		}
	}
	viaSyslog := f2bErr == nil && strings.EqualFold(f2b.LogTarget, "SYSLOG")
	toJournal := f2bErr == nil && (strings.EqualFold(f2b.LogTarget, "SYSTEMD-JOURNAL") || strings.EqualFold(f2b.LogTarget, "SYSOUT"))
	if toJournal && !slices.Contains(d.cfg.Logs, watcher.JournalLog) {
		d.problem(fmt.Sprintf("fail2ban logs to the systemd journal (logtarget = %s, %s) but recidivist reads %s", f2b.LogTarget, from(f2b.LogTargetFrom), strings.Join(d.cfg.Logs, ", ")),
			`set log = "journal" in the recidivist config, or logtarget = /var/log/fail2ban.log in fail2ban.local`)
	}
	for _, path := range d.cfg.Logs {
		if watcher.IsJournal(path) {
			d.checkJournal(hides)
			continue
		}
		d.checkLog(path, hides, viaSyslog)
	}
}

// checkJournal checks that journalctl reads the journal and finds
// fail2ban's entries in it within the window.
func (d *doctor) checkJournal(loglevelHides bool) {
	jc := watcher.JournalConfig{Match: d.cfg.JournalMatch, Directory: d.cfg.JournalDirectory}
	since := time.Now().Add(-d.cfg.Window)
	p := watcher.NewPipeline(watcher.NewParser(watcher.ParserConfig{Location: d.cfg.Location}),
		watcher.NewFilter(d.cfg.Jails, d.cfg.ExcludeJails, d.cfg.Ignore), watcher.NewTracker(d.cfg.Threshold, d.cfg.Window))
	err := watcher.ScanJournal(d.ctx, jc, since, p, func(watcher.Offender) {})
	if d.ctx.Err() != nil {
		return // stopped: run says so
	}
	if err != nil {
		d.problem(fmt.Sprintf("log: journal (%s) cannot be read: %v", jc.Describe(), err),
			"run recidivist as root (or in group systemd-journal), with systemd's journalctl installed; or point log at fail2ban's log file")
		return
	}
	st := p.Stats()
	switch {
	case st.Bans > 0:
		d.ok("log: journal (%s) readable, %d countable Ban entries in its %d entries of the last %s", jc.Describe(), st.Bans, st.Lines, config.FormatDuration(d.cfg.Window))
	case loglevelHides:
		d.note("log: journal (%s) has no Ban entries, as fail2ban's loglevel hides them (see above)", jc.Describe())
	case st.Lines == 0:
		d.note("log: journal (%s) has no entry of fail2ban in the last %s: check that fail2ban logs there (logtarget = SYSTEMD-JOURNAL, or sysout under systemd) and that journal-match selects it", jc.Describe(), config.FormatDuration(d.cfg.Window))
	default:
		d.note("log: journal (%s) readable, %d entries of fail2ban in the last %s but no Ban among them; fail2ban may have banned nobody lately", jc.Describe(), st.Lines, config.FormatDuration(d.cfg.Window))
	}
}

// syslogFiles are the usual names of the files syslog daemons write
// fail2ban's messages to (facility daemon): Debian's and Red Hat's.
var syslogFiles = []string{"syslog", "messages", "daemon.log", "user.log"}

// from says where a fail2ban setting came from.
func from(file string) string {
	if file == "" {
		return "fail2ban's default"
	}
	return "set in " + file
}

// checkLog checks one log; viaSyslog says fail2ban's logtarget is SYSLOG.
func (d *doctor) checkLog(path string, loglevelHides, viaSyslog bool) {
	// By the file's type first: opening a FIFO for reading would block
	// until some writer comes.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Type()&(fs.ModeNamedPipe|fs.ModeSocket) != 0 {
		kind := "a FIFO (named pipe)"
		if fi.Mode().Type()&fs.ModeSocket != 0 {
			kind = "a socket"
		}
		d.problem(fmt.Sprintf("log %s is %s: not supported, since it cannot be resumed from a checkpoint", path, kind),
			"let fail2ban write to a regular file (logtarget in /etc/fail2ban/fail2ban.local) and point log at it")
		return
	}
	f, err := d.open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.problem(fmt.Sprintf("log %s does not exist", path),
			"point log at the file fail2ban writes (logtarget in /etc/fail2ban/fail2ban.local), or start fail2ban; the daemon waits for a missing log")
		return
	case errors.Is(err, fs.ErrPermission):
		d.problem(fmt.Sprintf("log %s is not readable by this user", path), "run recidivist as root (sudo, or the systemd unit)")
		return
	case err != nil:
		d.problem(fmt.Sprintf("log %s cannot be opened: %v", path, err), "point log at fail2ban's log file")
		return
	}
	defer f.Close()
	p := watcher.NewParser(watcher.ParserConfig{Location: d.cfg.Location})
	filter := watcher.NewFilter(d.cfg.Jails, d.cfg.ExcludeJails, d.cfg.Ignore)
	tail, err := watcher.SampleTail(d.ctx, f, logTail, p, filter)
	lines, bans := tail.Lines, tail.Bans
	if d.ctx.Err() != nil {
		return // stopped: run says so
	}
	if err != nil {
		d.problem(fmt.Sprintf("log %s cannot be read: %v", path, err), "point log at fail2ban's log file (a regular file)")
		return
	}
	if tail.Relayed > 0 || viaSyslog || slices.Contains(syslogFiles, filepath.Base(path)) {
		d.warn(fmt.Sprintf("log: %s is a syslog file: any local user can write fail2ban-tagged Ban lines into it (logger -t fail2ban.actions ...) and have an address of their choice blocked", path),
			"read fail2ban's own log, which only root can write: set logtarget = /var/log/fail2ban.log under [Definition] in "+
				filepath.Join(d.f2bDir, "fail2ban.local")+" (then fail2ban-client reload) and log = \"/var/log/fail2ban.log\" in the recidivist config; "+
				"or the systemd journal: logtarget = SYSTEMD-JOURNAL in fail2ban.local and log = \"journal\" in the recidivist config, which reads only entries of fail2ban.service by the journal's trusted _SYSTEMD_UNIT field, which logger cannot forge")
	}
	switch {
	case bans > 0:
		d.ok("log: %s readable, %d countable Ban lines in its last %d lines", path, bans, lines)
	case loglevelHides:
		d.note("log: %s has no Ban lines, as fail2ban's loglevel hides them (see above)", path)
	case lines == 0:
		d.note("log: %s is empty; fail2ban has logged nothing there yet", path)
	default:
		d.note("log: %s readable but no Ban line in its last %d lines; fail2ban may have banned nobody lately (if it has, check its logtarget)", path, lines)
	}
}

func (d *doctor) checkPrivilege() bool {
	caps, err := d.capEff()
	if err != nil {
		d.problem(fmt.Sprintf("cannot read this process's capabilities: %v", err), "run recidivist check as root")
		return false
	}
	if !privilege.HasNetAdmin(caps) {
		d.problem("no privilege to change ipsets and iptables rules (not root, no CAP_NET_ADMIN): the kernel checks were skipped",
			"run as root (sudo recidivist check); the service gets CAP_NET_ADMIN from examples/systemd/recidivist.service")
		return false
	}
	d.ok("privilege: CAP_NET_ADMIN held")
	return true
}

func (d *doctor) checkIptables() bool {
	if d.cfg.Backend == "nftables" {
		return true // the nftables backend speaks netlink; no binary needed
	}
	found := true
	for _, bin := range []string{"iptables", "ip6tables"} {
		p, err := d.lookPath(bin)
		if err != nil {
			found = false
			d.problem(bin+" is not installed (not on PATH): the match rules cannot be made", "apt-get install iptables")
			continue
		}
		d.ok("%s: %s", bin, p)
	}
	return found
}

func (d *doctor) checkKernel(haveIptables bool) {
	store, err := d.store()
	if err != nil {
		d.problem(fmt.Sprintf("the set and chain settings are invalid: %v", err), "fix set-name, chain, target or ports in the config")
		return
	}
	st, err := store.Status()
	switch {
	case errors.Is(err, ipsetstore.ErrNoKernelSupport) && !haveIptables:
		return // already explained: no iptables
	case errors.Is(err, ipsetstore.ErrNoKernelSupport):
		d.problem(fmt.Sprintf("no kernel ipset support: %v", err),
			"load the modules (modprobe ip_set ip_set_hash_net xt_set) or use a kernel built with CONFIG_IP_SET and CONFIG_NETFILTER_XT_SET")
		return
	case errors.Is(err, ipsetstore.ErrNotPermitted):
		d.problem(fmt.Sprintf("the kernel refused to show the sets: %v", err), "run as root or with CAP_NET_ADMIN")
		return
	case err != nil:
		d.problem(fmt.Sprintf("reading the sets and rules: %v", err), "run sudo recidivist restore and read its error")
		return
	}
	d.ok("kernel: %s support present", d.cfg.Backend)
	setsThere := true
	for _, s := range st.Sets {
		if !s.Exists {
			setsThere = false
			d.problem(fmt.Sprintf("set %s (%s) does not exist: nothing is blocked for that family", s.Name, s.Family),
				"sudo recidivist restore (at boot recidivist-restore.service does it; the daemon does it at start)")
			continue
		}
		d.ok("set %s (%s): %d entries of maxelem %d", s.Name, s.Family, s.Entries, s.MaxElem)
	}
	for _, r := range st.Rules {
		where := r.Chain + "/" + r.Family.String()
		switch {
		case !r.ChainExists:
			d.problem(fmt.Sprintf("chain %s does not exist (%s)", r.Chain, r.Family),
				"remove "+r.Chain+" from chain in the config, or start what creates it (Docker creates DOCKER-USER)")
		case r.Count == 0:
			d.problem(fmt.Sprintf("no recidivist match rule in %s: the sets block nothing there", where), "sudo recidivist restore")
		case r.Count > 1:
			d.problem(fmt.Sprintf("%d recidivist rules in %s where one belongs", r.Count, where), "sudo recidivist restore (it keeps exactly one, at the top)")
		case !r.Present:
			d.problem(fmt.Sprintf("the recidivist rule in %s is not at the top: rules above it may accept offenders", where), "sudo recidivist restore (it moves the rule to the top)")
		default:
			d.ok("rule %s at the top", where)
		}
	}
	if setsThere {
		d.checkDrift(store)
	}
}

// checkDrift compares the sets with the mirror.
func (d *doctor) checkDrift(store ipsetstore.Store) {
	if d.mirrorErr != nil {
		return // checkMirror explains it
	}
	inKernel, err := store.List()
	if err != nil {
		d.problem(fmt.Sprintf("listing the sets: %v", err), "sudo recidivist restore")
		return
	}
	var want []ipsetstore.Entry
	for e := range blocklist.InForce(d.mirror, d.now) {
		want = append(want, ipsetstore.Entry{Prefix: e.Prefix})
	}
	// Only presence counts here: a timeout or comment the reconcile would
	// rewrite blocks all the same.
	plan, err := ipsetstore.Diff(inKernel, want)
	ch := plan.Changes()
	if err != nil {
		d.problem(fmt.Sprintf("comparing the sets with the mirror: %v", err), "sudo recidivist restore")
		return
	}
	missing := make([]string, len(ch.Add))
	for i, e := range ch.Add {
		missing[i] = e.Prefix.String()
	}
	extra := make([]string, len(ch.Del))
	for i, p := range ch.Del {
		extra[i] = p.String()
	}
	if len(missing) == 0 && len(extra) == 0 {
		d.ok("sets hold exactly the mirror's %d entries", len(inKernel))
		return
	}
	slices.Sort(missing)
	slices.Sort(extra)
	fix := "sudo recidivist restore makes the sets equal the mirror (a running daemon does it within reconcile-interval " +
		config.FormatDuration(d.cfg.ReconcileInterval) + "; if the drift stays, read its log)"
	if len(missing) > 0 {
		d.problem(fmt.Sprintf("%d mirror entries are not in the sets: %s", len(missing), sample.List(missing)), fix)
	}
	if len(extra) > 0 {
		d.problem(fmt.Sprintf("%d set entries are not in the mirror: %s", len(extra), sample.List(extra)), fix)
	}
}

func (d *doctor) checkDaemons() {
	holder, held, err := statedir.ReadHolder(d.cfg.StateDir)
	if errors.Is(err, nofollow.ErrSymlink) {
		return // checkStateFiles explains it
	}
	if err != nil {
		d.problem(fmt.Sprintf("reading the daemon's lock: %v", err), "run recidivist check as root")
		return
	}
	if held {
		d.ok("daemon: running (PID %d) on %s", holder.PID, d.cfg.StateDir)
	} else {
		d.note("daemon: not running on %s; blocks stay in force but new offenders are not added (systemctl start recidivist)", d.cfg.StateDir)
	}
	for _, o := range statedir.Daemons(d.procDir) {
		if o.PID == d.self || o.PID == holder.PID {
			continue
		}
		if !sameNetns(d.procDir, d.self, o.PID) {
			d.note("recidivist daemon (PID %d, state dir %s) runs in another network namespace: its sets and rules are its own", o.PID, o.StateDir)
			continue
		}
		set := o.SetName
		if set == "" {
			set = d.cfg.SetName // a lock of the previous release: assume the same config file
		}
		if set != d.cfg.SetName {
			d.note("another recidivist daemon (PID %d, state dir %s) manages other sets (%s)", o.PID, o.StateDir, set)
			continue
		}
		d.problem(fmt.Sprintf("another recidivist daemon (PID %d, state dir %s) manages the same sets %s and %s6: each undoes the other's blocks", o.PID, o.StateDir, set, set),
			"stop one of them (kill "+strconv.Itoa(o.PID)+"), or give each its own set-name")
	}
}

// sameNetns reports whether processes a and b share a network namespace,
// by the identity of their /proc/PID/ns/net links. When either cannot be
// read (a process gone, a /proc of a test) it answers true: a possible rival
// is reported rather than hidden.
func sameNetns(procDir string, a, b int) bool {
	na, errA := os.Readlink(filepath.Join(procDir, strconv.Itoa(a), "ns", "net"))
	nb, errB := os.Readlink(filepath.Join(procDir, strconv.Itoa(b), "ns", "net"))
	return errA != nil || errB != nil || na == nb
}

// checkStateFiles finds a symbolic link in place of a state file (the
// mirror itself is checkMirror's): recidivist refuses to follow it, so the
// daemon does not start and commands fail until it is gone.
func (d *doctor) checkStateFiles() {
	for _, path := range statedir.Files(d.cfg.StateDir) {
		if path == statedir.Mirror(d.cfg.StateDir) {
			continue
		}
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			d.problem(fmt.Sprintf("state file %s is a symbolic link: recidivist never follows it (it could point at any file) and refuses to use it", path),
				"rm "+path+"; if the file it points to is the one recidivist should use, move that file in its place")
		}
	}
}

func (d *doctor) checkMirror() {
	path := statedir.Mirror(d.cfg.StateDir)
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.note("mirror: %s does not exist yet; nothing is blocked", path)
		return
	case err != nil:
		d.problem(fmt.Sprintf("mirror %s: %v", path, err), "run recidivist check as root")
		return
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		d.problem(fmt.Sprintf("mirror %s is a symbolic link: recidivist never follows it (it could point at any file), so nothing of it is in force", path),
			"rm "+path+"; if the file it points to is the blocklist to keep, move or copy that file in its place")
		return
	}
	if fileperm.WritableByOthers(fi) {
		d.problem(fmt.Sprintf("mirror %s is writable by other users (mode %v): whoever can write it decides who is blocked", path, fi.Mode().Perm()),
			"chmod 600 "+path)
		return
	}
	if d.mirrorErr != nil {
		d.problem(fmt.Sprintf("reading the mirror: %v", d.mirrorErr), "fix the file named above")
		return
	}
	for _, le := range d.mirrorBad {
		d.problem(fmt.Sprintf("mirror: %v (the line is skipped)", le), "correct or delete that line in "+path+" as said above")
	}
	if len(d.mirrorBad) == 0 {
		d.ok("mirror: %s, %d entries, no bad lines", path, len(d.mirror))
	}
}
