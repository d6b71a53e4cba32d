package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

func statusCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "status",
		Usage: "show whether the daemon runs and what is in force",
		Description: "status says whether the daemon runs (and its PID), whether the match rules are in\n" +
			"place in every chain, how many entries each set holds against the mirror, how many\n" +
			"addresses are tracked, the last ban line seen and when, and the lines skipped. It works\n" +
			"whether the daemon runs or not, reading the state directory. The kernel part needs root;\n" +
			"without it status reports the rest and says so. It changes nothing; `recidivist check`\n" +
			"explains problems and their fixes.\n\n" +
			"Examples:\n" +
			"   sudo recidivist status\n" +
			"   sudo recidivist status --json | jq .sets",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}},
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			var store ipsetstore.Store
			s, kerr := openStore(cfg)
			if kerr == nil {
				store = s
			}
			st := readStatus(cfg, store, kerr, time.Now())
			if c.Bool("json") {
				return writeJSON(c.App.Writer, st)
			}
			st.print(c.App.Writer)
			return nil
		},
	}, "state-dir", "ignore", "threshold", "window", "backend", "iptables-variant", "set-name", "chain", "target", "ports", "maxelem", "hit-sample-interval", "idle-unblock", "log-level", "log-format")
}

// statusJSON is what status reports; its JSON field names are stable.
type statusJSON struct {
	Daemon  daemonJSON   `json:"daemon"`
	Kernel  *kernelJSON  `json:"kernel,omitempty"`
	Mirror  mirrorJSON   `json:"mirror"`
	Watcher *watcherJSON `json:"watcher,omitempty"`
	Hits    *hitsJSON    `json:"hits,omitempty"`
	// Notify is the notifier's outbox and last error (none: never ran).
	Notify *notify.Status `json:"notify,omitempty"`
	// Fleet is the daemon's link to the fleet as it last saved it.
	Fleet *daemon.FleetLink `json:"fleet,omitempty"`
	// Problems are what kept status from reading a part, in words.
	Problems []string `json:"problems,omitempty"`
}

type daemonJSON struct {
	Running  bool   `json:"running"`
	PID      int    `json:"pid,omitempty"`
	StateDir string `json:"state_dir"`
}

type kernelJSON struct {
	Healthy bool       `json:"healthy"`
	Sets    []setJSON  `json:"sets"`
	Rules   []ruleJSON `json:"rules"`
}

type setJSON struct {
	Name    string `json:"name"`
	Family  string `json:"family"`
	Exists  bool   `json:"exists"`
	Entries int    `json:"entries"`
	Mirror  int    `json:"mirror_entries"`
	MaxElem uint32 `json:"maxelem,omitempty"`
}

type ruleJSON struct {
	Chain       string `json:"chain"`
	Family      string `json:"family"`
	ChainExists bool   `json:"chain_exists"`
	// Pending: the chain is someone else's and does not exist yet
	// (DOCKER-USER before Docker starts); the rule goes in when it appears.
	Pending bool `json:"pending"`
	Present bool `json:"present"`
	Count   int  `json:"count"`
}

type mirrorJSON struct {
	Path     string `json:"path"`
	Entries  int    `json:"entries"`
	IPv4     int    `json:"ipv4"`
	IPv6     int    `json:"ipv6"`
	BadLines int    `json:"bad_lines"`
	// NetRanges are the ranges net escalation made, NetHoles the
	// addresses unbanned inside them.
	NetRanges int `json:"net_ranges,omitempty"`
	NetHoles  int `json:"net_holes,omitempty"`
	// kernel4 and kernel6 are the entries the mirror puts in each set: a
	// net range stands for its members and adds one for each hole.
	kernel4, kernel6 int
}

// hitsJSON is what the daemon's hit sampler last saw of the blocks in force.
type hitsJSON struct {
	Sampled     *time.Time `json:"sampled,omitempty"` // the last sample the record holds; none: never sampled
	IdleOver30d int        `json:"idle_over_30d"`
	IdleOver90d int        `json:"idle_over_90d"`
	IdleUnblock string     `json:"idle_unblock"` // "0": off
}

type watcherJSON struct {
	Saved   time.Time  `json:"saved"`
	Tracked int        `json:"tracked"`
	Pending int        `json:"pending"`
	Logs    []logJSON  `json:"logs"`
	Stats   *statsJSON `json:"stats,omitempty"`
}

type logJSON struct {
	Path        string     `json:"path"`
	Offset      int64      `json:"offset"`
	LastBan     *time.Time `json:"last_ban,omitempty"`
	LastBanLine string     `json:"last_ban_line,omitempty"`
	// Cursor and Source are set for the systemd journal (log = "journal"):
	// where reading resumes, and which journal and match are read.
	Cursor string `json:"cursor,omitempty"`
	Source string `json:"source,omitempty"`
}

type statsJSON struct {
	Lines      uint64            `json:"lines"`
	Bans       uint64            `json:"bans"`
	Filtered   uint64            `json:"filtered"`
	BansByJail map[string]uint64 `json:"bans_by_jail"`
	Skipped    map[string]uint64 `json:"skipped"`
}

// readStatus gathers what can be read; a part that cannot be read is left
// out and explained in Problems. store is nil when kerr says why.
func readStatus(cfg *config.Config, store ipsetstore.Store, kerr error, now time.Time) statusJSON {
	st := statusJSON{Daemon: daemonJSON{StateDir: cfg.StateDir}}
	switch h, held, err := statedir.ReadHolder(cfg.StateDir); {
	case err != nil:
		st.Problems = append(st.Problems, err.Error())
	case held:
		st.Daemon.Running, st.Daemon.PID = true, h.PID
	}

	entries, bad, err := host.Mirror(cfg).Load() // no mirror yet: no entries
	st.Mirror = mirrorJSON{Path: statedir.Mirror(cfg.StateDir), BadLines: len(bad)}
	if err != nil {
		st.Problems = append(st.Problems, fmt.Sprintf("reading the mirror: %v", err))
	}
	var inForce []blocklist.Entry
	for e := range blocklist.InForce(entries, now) {
		inForce = append(inForce, e)
		if e.Prefix.Addr().Is4() {
			st.Mirror.IPv4++
		} else {
			st.Mirror.IPv6++
		}
	}
	st.Mirror.Entries = len(inForce)
	for _, e := range inForce {
		if e.Net {
			st.Mirror.NetRanges++
			st.Mirror.NetHoles += len(e.Holes)
		}
	}
	for _, k := range daemon.KernelEntries(inForce, now) {
		if k.Prefix.Addr().Is4() {
			st.Mirror.kernel4++
		} else {
			st.Mirror.kernel6++
		}
	}

	if book, err := hits.Load(statedir.Hits(cfg.StateDir)); err != nil {
		st.Problems = append(st.Problems, err.Error())
	} else {
		over := hits.IdleOver(book, inForce, now, hits.IdleReported...)
		st.Hits = &hitsJSON{IdleOver30d: over[0], IdleOver90d: over[1], IdleUnblock: idleUnblockText(cfg.IdleUnblock)}
		if !book.Sampled.IsZero() {
			t := book.Sampled
			st.Hits.Sampled = &t
		}
	}

	if store == nil {
		st.Problems = append(st.Problems, "kernel not read: "+explainKernel(kerr).Error())
	} else if ks, err := store.Status(); err != nil {
		st.Problems = append(st.Problems, "kernel not read: "+explainKernel(err).Error())
	} else {
		st.Kernel = kernelStatus(ks, st.Mirror)
	}

	snap, err := watcher.ReadSnapshot(cfg.StateDir, cfg.Threshold, cfg.Window)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.Problems = append(st.Problems, "no watcher state yet: the daemon has not run with this state directory")
	case err != nil:
		st.Problems = append(st.Problems, fmt.Sprintf("reading the watcher state: %v", err))
	default:
		st.Watcher = watcherStatus(snap, watcher.JournalConfig{Match: cfg.JournalMatch, Directory: cfg.JournalDirectory})
	}
	switch ns, err := notify.ReadStatus(cfg.StateDir); {
	case err != nil:
		st.Problems = append(st.Problems, fmt.Sprintf("reading the notifier's state: %v", err))
	case ns != (notify.Status{}):
		st.Notify = &ns
	}
	switch l, ok, err := daemon.ReadFleetLink(cfg.StateDir); {
	case err != nil:
		st.Problems = append(st.Problems, fmt.Sprintf("reading the fleet link's status: %v", err))
	case ok:
		st.Fleet = &l
	}
	return st
}

func kernelStatus(ks ipsetstore.Status, m mirrorJSON) *kernelJSON {
	k := &kernelJSON{Healthy: ks.Healthy(), Sets: []setJSON{}, Rules: []ruleJSON{}}
	for _, s := range ks.Sets {
		mirror := m.kernel4 // what the mirror puts in the set
		if s.Family == ipsetstore.IPv6 {
			mirror = m.kernel6
		}
		k.Sets = append(k.Sets, setJSON{Name: s.Name, Family: s.Family.String(), Exists: s.Exists, Entries: s.Entries, Mirror: mirror, MaxElem: s.MaxElem})
	}
	for _, r := range ks.Rules {
		k.Rules = append(k.Rules, ruleJSON{Chain: r.Chain, Family: r.Family.String(), ChainExists: r.ChainExists, Pending: r.Pending, Present: r.Present, Count: r.Count})
	}
	return k
}

func watcherStatus(s watcher.Snapshot, jc watcher.JournalConfig) *watcherJSON {
	w := &watcherJSON{Saved: s.Saved, Tracked: len(s.Tracked), Pending: len(s.Pending), Logs: []logJSON{}}
	for _, cp := range s.Checkpoints {
		l := logJSON{Path: cp.Log, Offset: cp.Offset, LastBanLine: cp.LastBanLine, Cursor: cp.Cursor}
		if watcher.IsJournal(cp.Log) {
			l.Source = jc.Describe()
		}
		if !cp.LastBan.IsZero() {
			t := cp.LastBan
			l.LastBan = &t
		}
		w.Logs = append(w.Logs, l)
	}
	st := s.Stats
	w.Stats = &statsJSON{Lines: st.Lines, Bans: st.Bans, Filtered: st.Filtered, BansByJail: map[string]uint64{}, Skipped: map[string]uint64{}}
	maps.Copy(w.Stats.BansByJail, st.BansByJail)
	for r, n := range st.Skipped {
		w.Stats.Skipped[r.String()] = n
	}
	return w
}

func (st statusJSON) print(w io.Writer) {
	if st.Daemon.Running {
		pid := "unknown PID"
		if st.Daemon.PID > 0 {
			pid = fmt.Sprintf("PID %d", st.Daemon.PID)
		}
		fmt.Fprintf(w, "daemon:   running (%s), state dir %s\n", pid, st.Daemon.StateDir)
	} else {
		fmt.Fprintf(w, "daemon:   not running (state dir %s); blocks in the kernel stay in force\n", st.Daemon.StateDir)
	}
	if k := st.Kernel; k != nil {
		for _, r := range k.Rules {
			state := "present"
			switch {
			case r.Pending:
				state = "PENDING (the chain does not exist yet; the rule goes in as soon as it appears)"
			case !r.ChainExists:
				state = "MISSING (the chain does not exist)"
			case r.Count == 0:
				state = "MISSING"
			case !r.Present:
				state = fmt.Sprintf("NOT AT THE TOP (%d rules)", r.Count)
			case r.Count > 1:
				state = fmt.Sprintf("DUPLICATED (%d rules)", r.Count)
			}
			fmt.Fprintf(w, "rule:     %s/%s %s\n", r.Chain, r.Family, state)
		}
		for _, s := range k.Sets {
			if !s.Exists {
				fmt.Fprintf(w, "set:      %s (%s) MISSING; the mirror holds %d\n", s.Name, s.Family, s.Mirror)
				continue
			}
			drift := ""
			if s.Entries != s.Mirror {
				drift = " — differs from the mirror"
			}
			fmt.Fprintf(w, "set:      %s (%s) %d entries, mirror %d%s\n", s.Name, s.Family, s.Entries, s.Mirror, drift)
		}
	}
	bad := ""
	if st.Mirror.BadLines > 0 {
		bad = fmt.Sprintf(", %d bad lines skipped", st.Mirror.BadLines)
	}
	fmt.Fprintf(w, "mirror:   %s, %d entries (%d IPv4, %d IPv6)%s\n", st.Mirror.Path, st.Mirror.Entries, st.Mirror.IPv4, st.Mirror.IPv6, bad)
	if st.Mirror.NetRanges > 0 {
		fmt.Fprintf(w, "nets:     %d ranges of net escalation in place of their members, %d holes unbanned inside them\n", st.Mirror.NetRanges, st.Mirror.NetHoles)
	}
	if h := st.Hits; h != nil {
		sampled := "not sampled yet: counted from when each block was added"
		if h.Sampled != nil {
			sampled = "sampled " + h.Sampled.Local().Format(time.RFC3339)
		}
		unblock := h.IdleUnblock
		if unblock == "0" {
			unblock = "off"
		}
		fmt.Fprintf(w, "idle:     %d blocks not hit for over 30 days, %d over 90 days (%s); idle-unblock %s\n", h.IdleOver30d, h.IdleOver90d, sampled, unblock)
	}
	if wj := st.Watcher; wj != nil {
		fmt.Fprintf(w, "tracked:  %d addresses with bans in the window, %d offenders waiting to be blocked (state saved %s)\n",
			wj.Tracked, wj.Pending, wj.Saved.Local().Format(time.RFC3339))
		for _, l := range wj.Logs {
			read := fmt.Sprintf("%s read to byte %d", l.Path, l.Offset)
			if l.Source != "" {
				read = fmt.Sprintf("%s (%s) read to cursor %s", l.Path, l.Source, l.Cursor)
			}
			if l.LastBan == nil {
				fmt.Fprintf(w, "log:      %s, no ban seen yet\n", read)
				continue
			}
			fmt.Fprintf(w, "log:      %s, last ban %s (%s)\n", read,
				l.LastBan.Local().Format(time.RFC3339), age(*l.LastBan, time.Now()))
			if l.LastBanLine != "" {
				fmt.Fprintf(w, "          %s\n", strings.TrimSpace(l.LastBanLine))
			}
		}
		if s := wj.Stats; s != nil {
			fmt.Fprintf(w, "lines:    %d read, %d countable bans, %d filtered, %d skipped%s\n",
				s.Lines, s.Bans, s.Filtered, sum(s.Skipped), reasons(s.Skipped))
		}
	}
	if n := st.Notify; n != nil {
		sent := "nothing sent yet"
		if !n.LastSent.IsZero() {
			sent = "last sent " + age(n.LastSent, time.Now())
		}
		fmt.Fprintf(w, "notify:   %s, %d events waiting in the outbox\n", sent, n.Outbox)
		if n.LastError != "" {
			fmt.Fprintf(w, "          last error %s: %s\n", age(n.LastErrorAt, time.Now()), n.LastError)
		}
	}
	if st.Fleet != nil {
		printFleetLink(w, *st.Fleet, st.Daemon.Running, time.Now())
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "note:     %s\n", p)
	}
}

// age says how long before now at was, or, for a time ahead of now (the
// clock of the host or of the log is wrong, or log-timezone is), how far in
// the future it is.
func age(at, now time.Time) string {
	d := now.Sub(at).Round(time.Second)
	if d < 0 {
		return fmt.Sprintf("%s in the future — clock skew or wrong log-timezone?", -d)
	}
	return fmt.Sprintf("%s ago", d)
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// reasons writes counts by reason as " (long line 2, not UTF-8 1)".
func reasons(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// idleUnblockText is the idle-unblock setting as status shows it: "0"
// (off) or "90d".
func idleUnblockText(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return hits.DaysLabel(d)
}
