package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/notify"
)

// Notifications are of the mirror's transitions only, decided where the
// owner makes or notices them:
//
//   - block/auto: an offender the recorder wrote to the mirror as a new
//     entry (Durable); one decided from lines logged before this start is
//     marked CatchUp, and the notifier folds those into one summary;
//   - block/manual and unblock/unban: an entry the mirror gained or lost
//     through someone else (`ban`, `unban`, a person's edit), noticed by
//     the seen set at the start or at a reconcile — so `ban` and `unban`
//     run while the daemon is stopped notify at its next start;
//   - unblock/expiry: an entry the daemon expired;
//   - block/fleet and unblock/fleet: a record of another host of the fleet
//     applied to the mirror (ApplyFleet).
//
// A restore, a restart, a reconcile's repair of the kernel and an offender
// decided again while blocked change nothing in the mirror, so they notify
// nothing. Enqueue never blocks: blocking never waits on a notification.

// notifyFleet tells of what a fleet record changed in the mirror. ApplyFleet
// takes its removals out of the seen set, which so never tells them
// again. Callers hold d.mu.
func (d *Daemon) notifyFleet(added, removed []blocklist.Entry) {
	if d.notifier == nil {
		return
	}
	evs := make([]notify.Event, 0, len(added)+len(removed))
	for _, e := range added {
		evs = append(evs, blockEvent(e, notify.ReasonFleet, d.now()))
	}
	for _, e := range removed {
		evs = append(evs, notify.Event{Kind: notify.KindUnblock, Reason: notify.ReasonFleet, Prefix: e.Prefix.String(), Time: d.now().UTC()})
	}
	d.notifier.Enqueue(evs...)
}

// notifyBlocked tells of the offenders the recorder added to the mirror,
// and returns once the events are in the outbox (or lost, logged): the
// recorder calls it inside its transaction, before the seen set's update.
func (d *Daemon) notifyBlocked(pending []unrecorded, added []blocklist.Entry) {
	if d.notifier == nil || len(added) == 0 {
		return
	}
	byPrefix := make(map[netip.Prefix]unrecorded, len(pending))
	for _, u := range pending {
		byPrefix[u.entry.Prefix] = u
	}
	evs := make([]notify.Event, 0, len(added))
	for _, e := range added {
		ev := blockEvent(e, notify.ReasonAuto, d.now())
		if u, ok := byPrefix[e.Prefix]; ok {
			ev.CatchUp = u.o.Last.Before(d.started)
		}
		evs = append(evs, ev)
	}
	if err := d.notifier.Record(recordWait, evs...); err != nil {
		d.log.Error("blocks not notified: the notification outbox cannot be written", "events", len(evs), "err", err)
	}
}

// recordWait bounds how long the recorder waits for the notifier to open
// its outbox (at the start) before it gives the events up as lost.
const recordWait = 10 * time.Second

// notifyNoticed tells of what the mirror gained and lost through others
// (and through expiry) since the daemon last looked. Callers hold d.mu.
func (d *Daemon) notifyNoticed(added []blocklist.Entry, removed []netip.Prefix) {
	if d.notifier == nil {
		clear(d.unblockReason)
		return
	}
	evs := make([]notify.Event, 0, len(added)+len(removed))
	for _, e := range added {
		evs = append(evs, blockEvent(e, reasonOf(e), d.now()))
	}
	for _, p := range removed {
		reason := notify.ReasonUnban
		if r, ok := d.unblockReason[p]; ok {
			reason = r
			delete(d.unblockReason, p)
		}
		evs = append(evs, notify.Event{Kind: notify.KindUnblock, Reason: reason, Prefix: p.String(), Time: d.now().UTC()})
	}
	d.notifier.Enqueue(evs...)
}

// reasonOf is why an entry the daemon finds in the mirror without having
// told of it was added, from its metadata: most are `ban`'s and people's,
// but a crash between the recorder's or a fleet record's mirror write and
// its notification leaves one of those to be found at the next start.
func reasonOf(e blocklist.Entry) string {
	switch {
	case fleetHost(e) != "":
		return notify.ReasonFleet
	case e.Manual:
		return notify.ReasonManual
	case e.Net:
		return notify.ReasonEscalation
	case e.Bans > 0 && !e.Added.IsZero():
		return notify.ReasonAuto
	}
	return notify.ReasonManual
}

// blockEvent is the event of the block e. An entry with a time has an id
// of its own (kind, prefix, time), the same each time the daemon finds it,
// so that the outbox takes it once (see notify.Notifier.Record).
func blockEvent(e blocklist.Entry, reason string, now time.Time) notify.Event {
	at := e.Added
	var id string
	if at.IsZero() { // a line written by hand
		at = now.UTC()
	} else {
		id = fmt.Sprintf("%s-%s-%d", notify.KindBlock, e.Prefix, at.Unix()) // the mirror keeps seconds
	}
	return notify.Event{
		ID:      id,
		Kind:    notify.KindBlock,
		Reason:  reason,
		Prefix:  e.Prefix.String(),
		Jails:   e.Jails,
		Bans:    e.Bans,
		Expires: e.Expires,
		Time:    at,
	}
}
