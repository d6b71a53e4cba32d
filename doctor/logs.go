package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/f2bconf"
	"github.com/recidivist/recidivist/watcher"
)

// logTail is how much of the end of each log check reads for Ban lines.
const logTail = 4 << 20

func (d *Doctor) checkLogs() {
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
func (d *Doctor) checkJournal(loglevelHides bool) {
	jc := watcher.JournalConfig{Match: d.cfg.JournalMatch, Directory: d.cfg.JournalDirectory}
	since := time.Now().Add(-d.cfg.Window)
	p := watcher.NewPipeline(watcher.NewParser(watcher.ParserConfig{Location: d.cfg.Location}),
		watcher.NewFilter(d.cfg.Jails, d.cfg.ExcludeJails, d.cfg.Ignore), watcher.NewTracker(d.cfg.Threshold, d.cfg.Window))
	err := watcher.ScanJournal(d.ctx, jc, since, p, func(watcher.Offender) {})
	if d.ctx.Err() != nil {
		return // stopped: the caller of Run says so
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
func (d *Doctor) checkLog(path string, loglevelHides, viaSyslog bool) {
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
		return // stopped: the caller of Run says so
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
