package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/f2bconf"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/internal/privilege"
	"github.com/recidivist/recidivist/ipsetstore"
)

// Options are the settings of a Doctor that do not come from the
// configuration.
type Options struct {
	// Fail2banDir is fail2ban's configuration directory; "" is
	// f2bconf.DefaultDir.
	Fail2banDir string
}

// Result counts what a Run found.
type Result struct {
	Problems int // each keeps recidivist from working as configured: exit status 1
	Warnings int // each is a risk that does not: the exit status stays 0
}

// Doctor runs the checks of `recidivist check` on one configuration and
// prints each finding to its output. Its unexported fields are the outside
// world it looks at, so that tests can replace each.
type Doctor struct {
	ctx    context.Context // ends the checks early (Ctrl-C)
	cfg    *config.Config
	f2bDir string
	out    io.Writer
	now    time.Time

	open     func(string) (*os.File, error)
	capEff   func() (uint64, error)           // the effective capability set
	lookPath func(string) (string, error)     // finds iptables and ip6tables
	store    func() (ipsetstore.Store, error) // the kernel side
	procDir  string                           // where to look for other daemons
	clock    func() time.Time                 // the local clock, against Redis's for the fleet
	self     int                              // this process's PID

	// The other firewall tools (see coexist.go).
	iptablesVersion func() (string, error)                                            // `iptables --version`
	iptablesSave    func(ipsetstore.Variant) (text string, installed bool, err error) // a variant's rules, both families
	nftTables       func() ([]string, error)                                          // the nftables tables, as "ip docker-bridges"
	nftablesConf    string                                                            // nftables.service's script
	systemdDir      string                                                            // where *.wants/nftables.service says it is enabled

	// The mirror as Run read it: the drift check and the mirror check both
	// look at it, and a big mirror is costly to read twice.
	mirror    []blocklist.Entry
	mirrorBad []*blocklist.LineError
	mirrorErr error

	problems int
	warnings int
}

// New returns a Doctor for cfg that prints to out. It touches nothing
// until Run.
func New(cfg *config.Config, out io.Writer, opt Options) *Doctor {
	if opt.Fail2banDir == "" {
		opt.Fail2banDir = f2bconf.DefaultDir
	}
	d := &Doctor{
		ctx:      context.Background(),
		cfg:      cfg,
		f2bDir:   opt.Fail2banDir,
		out:      out,
		now:      time.Now(),
		open:     os.Open,
		capEff:   privilege.CapEff,
		lookPath: exec.LookPath,
		store: func() (ipsetstore.Store, error) {
			return host.Store(cfg, cfg.Backend)
		},
		procDir: "/proc",
		clock:   time.Now,
		self:    os.Getpid(),
	}
	d.iptablesVersion = d.runIptablesVersion
	d.iptablesSave = d.runIptablesSave
	d.nftTables = listNftTables
	d.nftablesConf = "/etc/nftables.conf"
	d.systemdDir = "/etc/systemd/system"
	return d
}

// Run performs every check in order, printing one line or more for each,
// and returns what it found. It changes nothing. Once ctx ends it starts
// no further check; the caller tells the user the checks did not finish.
func (d *Doctor) Run(ctx context.Context) Result {
	d.ctx = ctx
	d.problems, d.warnings = 0, 0
	stopped := func() bool { return d.ctx.Err() != nil }
	if stopped() {
		return d.result()
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
		func() { d.checkCoexistence(privileged) },
		d.checkDaemons,
		d.checkStateFiles,
		d.checkMirror,
		d.checkFleet,
		d.checkHits,
	} {
		if stopped() {
			break
		}
		check()
	}
	return d.result()
}

func (d *Doctor) result() Result {
	return Result{Problems: d.problems, Warnings: d.warnings}
}

// ok reports a check that passed.
func (d *Doctor) ok(format string, a ...any) {
	fmt.Fprintf(d.out, "ok       "+format+"\n", a...)
}

// note reports what the user may want to know but need not act on.
func (d *Doctor) note(format string, a ...any) {
	fmt.Fprintf(d.out, "note     "+format+"\n", a...)
}

// problem reports what keeps recidivist from working, with its fix.
func (d *Doctor) problem(what, fix string) {
	d.problems++
	fmt.Fprintf(d.out, "PROBLEM  %s\n         fix: %s\n", what, fix)
}

// warn reports a risk that does not keep recidivist from working (it is
// no problem: the exit status stays 0), with what makes it go away.
func (d *Doctor) warn(what, fix string) {
	d.warnings++
	fmt.Fprintf(d.out, "WARNING  %s\n         fix: %s\n", what, fix)
}
