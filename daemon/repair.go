package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/ipsetstore"
)

// The causes of a repair, as logged and as the label of
// recidivist_repairs_total.
const (
	CauseRuleMissing     = "rule-missing"     // a rule or chain of ours deleted, or a rule no longer on top
	CauseTableMissing    = "table-missing"    // the table holding our rules or sets deleted (nft flush ruleset)
	CauseSetMissing      = "set-missing"      // an ipset destroyed
	CauseSetFlushed      = "set-flushed"      // entries gone from the sets (ipset flush, nft flush set)
	CauseFirewalldReload = "firewalld-reload" // what firewalld's reload deleted
	CauseDrift           = "drift"            // entries that differ, found by the full comparison
)

// repairCauses lists every cause, so the metric shows each at 0 from the
// start.
var repairCauses = []string{CauseRuleMissing, CauseTableMissing, CauseSetMissing, CauseSetFlushed, CauseFirewalldReload, CauseDrift}

// headerEvery is how often the daemon checks the sets' headers and the
// rules (entry counts, rules present) between reconciles: an `ipset
// flush` sends no nf_tables event, and neither does anything under
// iptables-legacy. On nftables the check reads the ruleset generation
// first, a round trip whatever the size of the sets.
const headerEvery = 2 * time.Second

// kernelSettle is how long the daemon waits after the first nf_tables
// deletion of ours before it repairs: a `nft flush ruleset` or a firewall
// reload is several transactions in a row, repaired once.
const kernelSettle = 30 * time.Millisecond

// layouter is a store whose entry counts cost a listing of every entry
// (nftables: minutes for a million); its frequent check reads the ruleset
// generation and, when that moved, the layout without counts. Entries
// deleted by someone else are seen by the event watch, and by the full
// comparison every fullEvery-th interval.
type layouter interface {
	Generation() (uint32, error)
	Layout() (ipsetstore.Status, error)
}

// pendingRepair is what the event watch found deleted and the reconcile
// loop has not repaired yet. Guarded by Daemon.mu.
type pendingRepair struct {
	cause   string // "" with check: look (events were lost)
	content bool   // sets or their entries went too: compare every entry
	check   bool
}

// merge adds a cause; the one that asks most of the repair wins.
func (p *pendingRepair) merge(cause string, content bool) {
	p.check = true
	if cause != "" && (p.cause == "" || content && !p.content || cause == CauseTableMissing) {
		p.cause = cause
	}
	p.content = p.content || content
}

// watchKernel follows the nf_tables commits until ctx ends. A watch that
// cannot start is logged: the header check and the reconcile interval
// still repair, only later.
func (d *Daemon) watchKernel(ctx context.Context) error {
	if d.watch == nil {
		return nil
	}
	d.mu.Lock()
	d.watching = true
	d.mu.Unlock()
	err := d.watch(ctx, d.onCommit)
	d.mu.Lock()
	d.watching = false
	d.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		d.log.Warn("not following nf_tables changes; deleted rules and tables are repaired by the check every "+headerEvery.String(), "err", err)
	}
	return nil
}

// watchFirewalld follows firewalld's reloads until ctx ends. Each is
// noted like a deletion the nf_tables watch saw: one debounced repair for
// a reload and the deletions it committed, counted under firewalld-reload
// when it put anything back. It never fails the daemon: without a bus the
// nf_tables watch and the header check still repair.
func (d *Daemon) watchFirewalld(ctx context.Context) error {
	if d.firewalld == nil {
		return nil
	}
	err := d.firewalld(ctx, func() {
		d.log.Info("firewalld reloaded; checking the rules")
		d.noteKernel(CauseFirewalldReload, false)
	})
	if err != nil && ctx.Err() == nil {
		d.log.Warn("not following firewalld's reloads", "err", err)
	}
	return nil
}

// onCommit notes what a commit of another process deleted of ours and
// wakes the reconcile loop. The daemon's own commits are skipped: its
// writes never set off a repair of themselves (its iptables runs are other
// processes, but what they leave is right, and a check of a right kernel
// changes nothing). So are those of `recidivist ban`, `unban` and
// `restore` run beside it: they change the mirror, whose change the
// daemon follows anyway; a repair on top would compare every entry twice.
func (d *Daemon) onCommit(c nfwatch.Commit) {
	if c.Lost != nil {
		d.log.Warn("nf_tables events lost; checking the sets and rules", "err", c.Lost)
		d.noteKernel("", false)
		return
	}
	if c.Own() || c.SameProgram() {
		return
	}
	d.mu.Lock()
	backend, setName, chains := d.cfg.Backend, d.cfg.SetName, d.cfg.Chains
	d.mu.Unlock()
	cause, content := causeOf(c, backend, setName, chains)
	if cause == "" {
		return
	}
	d.log.Debug("nf_tables: something of ours deleted", "cause", cause, "by", c.Comm, "pid", c.PID, "generation", c.Gen)
	d.noteKernel(cause, content)
}

// noteKernel records a cause for the reconcile loop and wakes it.
func (d *Daemon) noteKernel(cause string, content bool) {
	d.mu.Lock()
	d.toRepair.merge(cause, content)
	d.mu.Unlock()
	select {
	case d.kernelChanged <- struct{}{}:
	default: // woken already
	}
}

// causeOf says what a commit deleted of ours: with the nftables backend,
// anything in table inet SET-NAME; with ipset, the filter table of
// iptables-nft or a configured chain in it (the sets are no nf_tables
// objects). content is true when entries may be gone.
func causeOf(c nfwatch.Commit, backend, setName string, chains []string) (cause string, content bool) {
	var p pendingRepair
	for _, del := range c.Deleted {
		var cs string
		var ct bool
		if backend == "nftables" {
			if del.Family != nfprotoInet || del.Table != setName {
				continue
			}
			switch del.Kind {
			case nfwatch.Table:
				cs, ct = CauseTableMissing, true
			case nfwatch.Chain, nfwatch.Rule:
				cs = CauseRuleMissing
			case nfwatch.Set, nfwatch.Element:
				cs, ct = CauseSetFlushed, true
			}
		} else {
			if del.Family != nfprotoIPv4 && del.Family != nfprotoIPv6 || del.Table != "filter" {
				continue
			}
			switch del.Kind {
			case nfwatch.Table:
				cs = CauseTableMissing
			case nfwatch.Chain, nfwatch.Rule:
				if !slices.Contains(chains, del.Chain) {
					continue
				}
				cs = CauseRuleMissing
			default:
				continue
			}
		}
		p.merge(cs, ct)
	}
	if p.cause != "" && c.Comm == "firewalld" {
		p.cause = CauseFirewalldReload
	}
	return p.cause, p.content
}

// The nfgenmsg families (unix.NFPROTO_*) of the tables causeOf looks at.
const (
	nfprotoInet = 1
	nfprotoIPv4 = 2
	nfprotoIPv6 = 10
)

// repairPending repairs what the event watch noted.
func (d *Daemon) repairPending() {
	d.mu.Lock()
	p := d.toRepair
	d.toRepair = pendingRepair{}
	d.mu.Unlock()
	switch {
	case !p.check:
	case p.cause == "":
		d.headerCheck()
	default:
		d.repair(p.cause, p.content)
	}
}

// headerCheck looks for drift in the sets' headers and the rules and
// repairs it.
func (d *Daemon) headerCheck() {
	if cause, content := d.drift(); cause != "" {
		d.repair(cause, content)
	}
}

// repair puts back what cause took. Rules alone come back with Ensure, in
// milliseconds whatever the size of the sets; lost entries need the full
// reconcile, which compares every entry.
func (d *Daemon) repair(cause string, content bool) {
	if !content {
		d.mu.Lock()
		rep, err := d.store.Ensure()
		if err == nil {
			d.pending.note(d.log, rep)
			if rep.Changed() {
				d.repaired(cause, rep.String())
			}
		}
		d.mu.Unlock()
		if err != nil {
			d.log.Error("repairing the rules", "cause", cause, "err", d.explain(err))
			d.metrics.kernelErrors.Inc()
			return
		}
		// A reload may have taken more than the rules.
		next, more := d.drift()
		if next == "" || !more {
			return // right now, or still wrong in a way Ensure cannot fix: logged by the reconcile
		}
		cause = next
	}
	d.reconcileFor("repair", cause)
}

// repaired logs and counts a repair. Callers hold d.mu.
func (d *Daemon) repaired(cause, what string) {
	d.metrics.repairs.Inc()
	d.metrics.repairsBy.WithLabelValues(cause).Inc()
	d.log.Info("repaired the kernel", "cause", cause, "repaired", what)
}

// drift compares the kernel with what the daemon put there, cheaply: the
// sets' headers (entry counts, where they cost no listing) and the rules.
// It returns the cause of a difference, or "" when there is none or it
// cannot tell (a kernel error: the reconcile logs those); content is true
// when entries may be missing.
func (d *Daemon) drift() (cause string, content bool) {
	if ls, ok := d.store.(layouter); ok {
		return d.driftLayout(ls)
	}
	// Read without d.mu: with iptables runs and a million entries a
	// status takes a good part of a second, and offenders must reach the
	// kernel meanwhile. Offenders added since the snapshot only raise the
	// counts, which diagnose does not take for drift.
	// Without the expected counts (the mirror changed, a block expired,
	// the last reconcile left the rules buried) a set emptied since the
	// last start or reconcile left entries in it is still a flush: the
	// wanted count is then 1 for each set that had entries.
	d.mu.Lock()
	var want *ipsetstore.Status
	if e := d.expected(); e != nil {
		want = &ipsetstore.Status{Sets: slices.Clone(e.Sets)}
	} else if d.lastSets != nil {
		want = &ipsetstore.Status{Sets: slices.Clone(d.lastSets)}
		for i := range want.Sets {
			want.Sets[i].Entries = min(want.Sets[i].Entries, 1)
		}
	}
	d.mu.Unlock()
	st, err := d.store.Status()
	if err != nil {
		d.log.Debug("header check: cannot read the sets and rules; the reconcile logs kernel errors", "err", err)
		return "", false
	}
	return diagnose(st, want, false)
}

// driftLayout is drift for a layouter: an unchanged ruleset generation
// since the last good look means nothing changed.
func (d *Daemon) driftLayout(ls layouter) (string, bool) {
	gen, gerr := ls.Generation()
	d.mu.Lock()
	same := gerr == nil && d.layoutOK && gen == d.layoutGen
	d.mu.Unlock()
	if same {
		return "", false
	}
	st, err := ls.Layout()
	if err != nil {
		return "", false
	}
	cause, content := diagnose(st, nil, true)
	d.mu.Lock()
	d.layoutGen, d.layoutOK = gen, cause == "" && gerr == nil
	d.mu.Unlock()
	return cause, content
}

// expected is the status the last full reconcile and the offenders since
// leave, when it still holds: nil when the mirror changed, a block
// expired or no full reconcile succeeded. Callers hold d.mu.
func (d *Daemon) expected() *ipsetstore.Status {
	q := &d.full
	if !q.valid || !q.expires.IsZero() && !d.now().Before(q.expires) || !d.mirror.Unchanged() || d.stale {
		return nil
	}
	return &q.status
}

// diagnose names the first difference between st and what should be: sets
// missing, rules missing or not on top, fewer entries than want (nil:
// counts unknown; more entries are offenders added since, or an entry
// added by hand, which the full comparison every fullEvery-th interval
// finds). A pending chain (DOCKER-USER before Docker) is no drift; once it
// exists without the rule, it is. ownChains says the store makes its
// chains itself (nftables): missing sets and chains are then its table.
func diagnose(st ipsetstore.Status, want *ipsetstore.Status, ownChains bool) (cause string, content bool) {
	chainsGone := len(st.Rules) > 0
	for _, r := range st.Rules {
		chainsGone = chainsGone && !r.ChainExists
	}
	for _, s := range st.Sets {
		if !s.Exists {
			if ownChains && chainsGone {
				return CauseTableMissing, true
			}
			return CauseSetMissing, true
		}
	}
	for _, r := range st.Rules {
		if !r.ChainExists && !r.Pending || r.ChainExists && (!r.Present || r.Count != 1) {
			return CauseRuleMissing, false
		}
	}
	if want == nil {
		return "", false
	}
	for _, s := range st.Sets {
		i := slices.IndexFunc(want.Sets, func(w ipsetstore.SetStatus) bool { return w.Family == s.Family })
		if i >= 0 && s.Entries < want.Sets[i].Entries {
			return CauseSetFlushed, true
		}
	}
	return "", false
}
