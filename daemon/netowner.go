package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/addr"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
)

// escalate runs in the recorder's transaction (tx) after it wrote new
// offenders: new members of net ranges already blocked join them (their
// own entries leave the kernel, a hole they left is closed), and networks
// that reached their threshold are blocked as ranges in place of their
// members. Refusals are logged once per network and reason.
func (d *Daemon) escalate(tx *blocklist.Tx) {
	d.mu.Lock()
	n, policy, now, local := d.cfg.Net, d.policy, d.now(), d.localAddrs
	d.mu.Unlock()
	if !n.On || d.dryRun {
		return
	}
	es, err := tx.Entries()
	if err != nil {
		d.log.Error("net escalation: reading the mirror", "err", err)
		return
	}
	nets := newNetIndex(es, now)
	joined := map[netip.Prefix]blocklist.Entry{}
	var joiners []blocklist.Entry // members whose own entry the kernel may hold
	for e := range blocklist.InForce(es, now) {
		if !netMember(e) {
			continue
		}
		r, ok := nets.around(e.Prefix)
		if !ok {
			continue
		}
		if cur, ok := joined[r.Prefix]; ok {
			r = cur
		}
		a := e.Prefix.Addr()
		if slices.Contains(r.Members, a) {
			continue
		}
		r.Members = append(slices.Clone(r.Members), a)
		slices.SortFunc(r.Members, netip.Addr.Compare)
		// Blocked again after an unban: the hole it left closes.
		r.Holes = slices.DeleteFunc(slices.Clone(r.Holes), func(h netip.Prefix) bool { return h == e.Prefix })
		joined[r.Prefix] = r
		joiners = append(joiners, e)
	}
	var made []blocklist.Entry
	count := len(nets.ranges)
	for _, c := range NetCandidates(es, n, policy, local(), now) {
		if c.Refused != nil {
			d.refuseNet(c.Prefix, c.Refused.Error())
			continue
		}
		if count >= n.MaxRanges {
			d.refuseNet(c.Prefix, "net-max-ranges reached")
			continue
		}
		made = append(made, netEntry(c, now))
		count++
	}
	if len(joined) == 0 && len(made) == 0 {
		return
	}
	updates := make([]blocklist.Entry, 0, len(joined))
	for _, r := range joined {
		updates = append(updates, r)
	}
	if _, err := tx.Update(updates...); err != nil {
		d.log.Error("net escalation: updating ranges in the mirror", "err", err)
		return
	}
	if _, err := tx.Add(made...); err != nil {
		d.log.Error("net escalation: writing ranges to the mirror", "err", err)
		return
	}
	after, err := tx.Entries()
	if err != nil {
		d.log.Error("net escalation: reading the mirror", "err", err)
		return
	}
	ps := make([]netip.Prefix, 0, len(made))
	d.mu.Lock()
	for _, r := range append(updates, made...) {
		before := kernelOf(es, r.Prefix, now)
		for _, j := range joiners {
			if r.Prefix.Contains(j.Prefix.Addr()) {
				before = append(before, KernelEntry(j, now)) // onOffenders put it in
			}
		}
		add, del := exchangeOf(before, kernelOf(after, r.Prefix, now))
		if err := d.store.Exchange(add, del); err != nil {
			d.log.Error("net escalation: the kernel refused the range; the reconcile retries", "range", r.Prefix, "err", d.explain(err))
			d.metrics.kernelErrors.Inc()
		}
		d.changed(r.Prefix, change{added: true, entry: r})
		d.nets[r.Prefix] = r
	}
	d.full.valid = false // the sets' counts changed by more than one
	for _, r := range made {
		ps = append(ps, r.Prefix)
		d.log.Info("escalated to a net range", "range", r.Prefix, "members", len(r.Members), "bans", r.Bans, "jails", r.Jails)
		d.metrics.netEscalations.Inc()
	}
	for _, r := range updates {
		d.log.Info("net range gained a member", "range", r.Prefix, "members", len(r.Members))
	}
	d.notifyEscalated(made)
	d.mu.Unlock()
	if err := d.seen.add(ps...); err != nil {
		d.log.Warn("remembering the mirror's entries", "err", err)
	}
}

// refuseNet logs once why a network is not escalated. Callers do not hold
// d.mu.
func (d *Daemon) refuseNet(p netip.Prefix, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.netRefused[p] == why {
		return
	}
	d.netRefused[p] = why
	d.log.Warn("net escalation refused", "range", p, "reason", why)
}

// notifyEscalated tells of the ranges escalation made. Callers hold d.mu.
func (d *Daemon) notifyEscalated(made []blocklist.Entry) {
	if d.notifier == nil || len(made) == 0 {
		return
	}
	evs := make([]notify.Event, 0, len(made))
	for _, r := range made {
		ev := blockEvent(r, notify.ReasonEscalation, d.now())
		ev.Kind = notify.KindEscalate
		for _, m := range r.Members {
			ev.Members = append(ev.Members, m.String())
		}
		evs = append(evs, ev)
	}
	d.notifier.Enqueue(evs...)
}

// noteCollapses marks the net ranges gone from the mirror while members of
// theirs stay in it: `unban` collapsed them, and their unblock event says
// so. It then remembers the ranges of es. Callers hold d.mu.
func (d *Daemon) noteCollapses(es []blocklist.Entry, removed []netip.Prefix) {
	if len(removed) > 0 && len(d.nets) > 0 {
		listed := make(map[netip.Prefix]bool, len(es))
		for _, e := range es {
			if e.Prefix.IsSingleIP() {
				listed[e.Prefix] = true
			}
		}
		for _, p := range removed {
			r, ok := d.nets[p]
			if !ok {
				continue
			}
			if slices.ContainsFunc(r.Members, func(a netip.Addr) bool { return listed[netip.PrefixFrom(a, a.BitLen())] }) {
				if _, has := d.unblockReason[p]; !has {
					d.unblockReason[p] = notify.ReasonCollapse
				}
			}
		}
	}
	clear(d.nets)
	for _, e := range es {
		if e.Net {
			d.nets[e.Prefix] = e
		}
	}
}

// Unbanned is what UnbanNet did.
type Unbanned struct {
	// Removed are the lines removed from the mirror.
	Removed []blocklist.Entry
	// Holes maps each prefix unbanned inside a net range that stays to
	// that range: it is a hole in it now.
	Holes map[netip.Prefix]netip.Prefix
	// Collapsed are the net ranges that fell below their threshold and
	// gave way to their remaining members.
	Collapsed []blocklist.Entry
}

// UnbanNet is Unban knowing net ranges (n gives their thresholds). A
// prefix inside a net range becomes a hole in it and leaves its members
// (its own line goes); a range left with fewer members than the threshold
// collapses back to them. Unbanning a net range itself removes it with its
// holes and its members' lines. The kernel follows in the same
// transaction, with no instant in which a member still blocked passes
// (Store.Exchange).
func UnbanNet(mirror *blocklist.File, store ipsetstore.Store, ps []netip.Prefix, n config.Net, now time.Time) (Unbanned, error) {
	res := Unbanned{Holes: map[netip.Prefix]netip.Prefix{}}
	err := mirror.Exclusive(func(tx *blocklist.Tx) error {
		es, err := tx.Entries()
		if err != nil {
			return err
		}
		nets := newNetIndex(es, now)
		listed := make(map[netip.Prefix]bool, len(es))
		for e := range blocklist.InForce(es, now) {
			listed[e.Prefix] = true
		}
		// A member whose own block expired is a member no more.
		gone := func(a netip.Addr) bool { return !listed[netip.PrefixFrom(a, a.BitLen())] }
		var drop []netip.Prefix
		touched := map[netip.Prefix]blocklist.Entry{}
		for _, p := range ps {
			p = addr.Canonical(p)
			if r, ok := nets.ranges[p]; ok {
				drop = append(drop, p)
				for _, m := range r.Members {
					drop = append(drop, netip.PrefixFrom(m, m.BitLen()))
				}
				touched[p] = r
				continue
			}
			r, ok := nets.around(p)
			if !ok {
				drop = append(drop, p)
				continue
			}
			if cur, ok := touched[r.Prefix]; ok {
				r = cur
			}
			r.Members = slices.DeleteFunc(slices.Clone(r.Members), func(a netip.Addr) bool { return p.Contains(a) || gone(a) })
			if !inHole(r, p) {
				r.Holes = append(slices.Clone(r.Holes), p)
			}
			touched[r.Prefix] = r
			res.Holes[p] = r.Prefix
			if listed[p] {
				drop = append(drop, p)
			}
		}
		var updates []blocklist.Entry
		for rp, r := range touched {
			if slices.Contains(drop, rp) {
				continue
			}
			if _, threshold := n.Prefix(rp.Addr().Is4()); len(r.Members) < threshold {
				drop = append(drop, rp)
				res.Collapsed = append(res.Collapsed, r)
				for p, in := range res.Holes {
					if in == rp {
						delete(res.Holes, p)
					}
				}
				continue
			}
			updates = append(updates, r)
		}
		if _, err := tx.Update(updates...); err != nil {
			return err
		}
		if res.Removed, err = tx.Remove(drop...); err != nil {
			return err
		}
		if store == nil {
			return nil
		}
		after, err := tx.Entries()
		if err != nil {
			return err
		}
		var plain []netip.Prefix
		for _, p := range drop {
			if _, ok := touched[p]; !ok {
				if _, ok := nets.around(p); !ok {
					plain = append(plain, p)
				}
			}
		}
		if err := store.Del(plain...); err != nil {
			return &kernelWriteError{fmt.Errorf("out of the mirror but not all out of the kernel sets yet: %w", err)}
		}
		for rp := range touched {
			add, del := exchangeOf(kernelOf(es, rp, now), kernelOf(after, rp, now))
			if err := store.Exchange(add, del); err != nil {
				return &kernelWriteError{fmt.Errorf("net range %s changed in the mirror but not yet in the kernel sets: %w", rp, err)}
			}
		}
		return nil
	})
	return res, stateDirError(mirror, err)
}
