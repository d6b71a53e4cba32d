package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/fleet"
)

// ApplyFleet applies records that other hosts of the fleet wrote (the
// fleet.Reader's Apply): one transaction of the owner, like any other
// change of what is blocked. Every record passes the refusal policy (a
// member cannot make this host block its ignore list, 0.0.0.0/0 or a
// range too wide) and fleet-accept; a block already expired is skipped; an
// unban removes only a local entry not newer than the unban (the local
// entry's time is its version), and forgives the bans logged up to it.
// A snapshot is applied like changes: it never deletes a local entry
// (deletions travel only as unban records), so an emptied Redis cannot
// empty a host. This host's own records coming back are skipped (its
// mirror made them: a block pushed before an unban must not come back
// after it), except the blocks the fleet decided (origin fleet), which it
// needs like any other host. Kernel errors are logged and left to the
// reconcile: the mirror is the truth. It returns an error only when the mirror could not
// be written; the Reader offers the same records again.
func (d *Daemon) ApplyFleet(_ context.Context, recs []fleet.Record, snapshot bool) error {
	d.mu.Lock()
	accept, policy, now := d.cfg.Fleet, d.policy, d.now()
	d.mu.Unlock()
	var blocks []blocklist.Entry
	unbans := map[netip.Prefix]fleet.Record{}
	for _, r := range recs {
		switch {
		case r.Host == accept.Host && r.Origin != fleetOrigin:
			// this host's own record coming back: its mirror made it
		case r.State == fleet.Block && !accept.AcceptBlock, r.State == fleet.Unban && !accept.AcceptUnban:
			d.log.Debug("fleet record not accepted here (fleet-accept)", "prefix", r.Prefix, "state", r.State, "host", r.Host)
			d.fleetRecord("not_accepted")
		case r.State == fleet.Unban:
			unbans[r.Prefix] = r
		case r.Expires.IsZero() || r.Expires.After(now):
			if err := policy.Check(r.Prefix, false); err != nil {
				d.log.Warn("fleet record refused", "prefix", r.Prefix, "host", r.Host, "reason", err)
				d.fleetRecord("refused")
				continue
			}
			blocks = append(blocks, fleetEntry(r))
		}
	}
	if len(blocks) == 0 && len(unbans) == 0 {
		return nil
	}
	err := d.mirror.Exclusive(func(tx *blocklist.Tx) error {
		d.mu.Lock()
		d.noteElsewhere(tx)
		d.mu.Unlock()
		// an unban wins over a local entry not newer than it, and forgives
		// the bans logged up to it whether this host blocked them or not
		var gone []netip.Prefix
		forgiven := map[netip.Prefix]bool{}
		if len(unbans) > 0 {
			current, _, err := d.mirror.Load()
			if err != nil {
				return err
			}
			for p := range unbans {
				forgiven[p] = true
			}
			for _, e := range current {
				if u, ok := unbans[e.Prefix]; ok {
					if e.Added.After(u.Version) {
						delete(forgiven, e.Prefix)
					} else {
						gone = append(gone, e.Prefix)
					}
				}
			}
		}
		// a block and an unban of one prefix in one batch: the later wins
		// (the Reader hands them in change order; the stream is LWW-ordered
		// per prefix only by version, so compare)
		blocks = slices.DeleteFunc(blocks, func(e blocklist.Entry) bool {
			u, ok := unbans[e.Prefix]
			return ok && !e.Added.After(u.Version)
		})
		added, err := tx.Add(blocks...)
		if err != nil {
			return err
		}
		removed, err := tx.Remove(gone...)
		if err != nil {
			return err
		}
		d.mu.Lock()
		for _, e := range added {
			if kerr := d.store.Add(KernelEntry(e, now)); kerr != nil {
				d.log.Error("fleet block recorded in the mirror but not in the kernel set; the reconcile retries", "prefix", e.Prefix, "err", d.explain(kerr))
			}
			d.changed(e.Prefix, change{added: true, entry: e})
			d.log.Info("blocked from the fleet", "prefix", e.Prefix, "by", fleetHost(e), "snapshot", snapshot)
			d.fleetRecord("blocked")
		}
		for _, e := range removed {
			if kerr := d.store.Del(e.Prefix); kerr != nil {
				d.log.Error("fleet unban recorded in the mirror but the kernel set still has it; the reconcile retries", "prefix", e.Prefix, "err", d.explain(kerr))
			}
			d.changed(e.Prefix, change{})
			d.log.Info("unbanned from the fleet", "prefix", e.Prefix, "by", unbans[e.Prefix].Host, "snapshot", snapshot)
			d.fleetRecord("unbanned")
		}
		for p := range forgiven {
			d.watcher.Forgive(p, unbans[p].Version)
		}
		d.notifyFleet(added, removed)
		d.mu.Unlock()
		if len(added) > 0 {
			ps := make([]netip.Prefix, len(added))
			for i, e := range added {
				ps[i] = e.Prefix
			}
			if err := d.seen.add(ps...); err != nil {
				d.log.Warn("remembering the mirror's entries", "err", err) // only a hand deletion while stopped could go unforgiven
			}
		}
		if len(removed) > 0 {
			// not a person's unban: never told or shared again
			ps := make([]netip.Prefix, len(removed))
			for i, e := range removed {
				ps[i] = e.Prefix
			}
			if err := d.seen.forget(ps...); err != nil {
				d.log.Warn("remembering the mirror's entries", "err", err) // the next start would share this unban again
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying %d fleet records: %w", len(recs), err)
	}
	return nil
}

// fleetOrigin is the origin of a block the fleet decided (ban_event): a
// host's own such record is applied like any other.
const fleetOrigin = "fleet"

// fleetMark starts the free text of a mirror line a fleet record wrote.
const fleetMark = "fleet:"

// fleetEntry is the mirror entry of a fleet block: its version is the
// entry's time, so every host writes the same line.
func fleetEntry(r fleet.Record) blocklist.Entry {
	return blocklist.Entry{
		Prefix: r.Prefix, Added: r.Version, Expires: r.Expires, Jails: r.Jails, Bans: r.Bans,
		Comment: fleetMark + r.Host,
	}
}

func fleetHost(e blocklist.Entry) string {
	if len(e.Comment) > len(fleetMark) && e.Comment[:len(fleetMark)] == fleetMark {
		return e.Comment[len(fleetMark):]
	}
	return ""
}
