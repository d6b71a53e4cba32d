package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/recidivist/recidivist/blocklist"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

// The fleet link: the reader (RunFleetReader) applies other hosts' records
// through ApplyFleet; the writer (RunFleetWriter) pushes this host's
// outbox (outbox.go): the watcher tells it each countable ban (OnBan,
// durable by Durable before the checkpoint), and the owner's transactions
// append this host's own records — an offender's block at its deciding
// ban's time (Durable), a block or unban someone else made in the mirror
// (`ban`, `unban`, a hand edit) at the time the owner noticed it
// (shareNoticed) — never a record that came from the fleet (entries marked
// fleet:HOST, unbans ApplyFleet made) nor an expiry (the record carries
// its expiry; every host expires it alone). Nothing here waits on the
// fleet: the outbox is a local file.

// RunFleetReader tails the fleet's changes into the owner (ApplyFleet)
// until ctx ends, resuming from the cursor kept in the state directory. It
// runs beside the daemon and never delays it: a fleet that is down, slow
// or frozen only delays remote records. Its status is in Status.
func (d *Daemon) RunFleetReader(ctx context.Context, f fleet.Fleet) error {
	path := statedir.FleetCursor(d.cfg.StateDir)
	cursor, err := readCursor(path)
	if err != nil {
		d.log.Warn("fleet: the saved cursor cannot be read; starting from a snapshot", "file", path, "err", err)
	}
	r := &fleet.Reader{
		Fleet:  f,
		Cursor: cursor,
		SaveCursor: func(c string) error {
			return atomicfile.WriteFile(path, []byte(c+"\n"), 0o600)
		},
		Apply: d.ApplyFleet,
		Log:   d.log.With(slog.String("part", "fleet-reader")),
	}
	d.mu.Lock()
	d.fleetReader = r
	d.mu.Unlock()
	return r.Run(ctx)
}

// FleetReaderStatus is the fleet reader's status (ok false when none runs).
func (d *Daemon) FleetReaderStatus() (fleet.Status, bool) {
	d.mu.Lock()
	r := d.fleetReader
	d.mu.Unlock()
	if r == nil {
		return fleet.Status{}, false
	}
	return r.Status(), true
}

func readCursor(path string) (string, error) {
	f, err := nofollow.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// RunFleetWriter pushes this host's outbox to the fleet until ctx ends,
// from the checkpoint kept in STATE-DIR/fleet-pushed. After the fleet lost
// writes it pushes the window of the outbox again with the local mirror
// (entries not from the fleet) and the unbans of the window. It runs
// beside the daemon and never delays it. Its status is in Status.
func (d *Daemon) RunFleetWriter(ctx context.Context, f fleet.Fleet) error {
	if d.outbox == nil {
		return errors.New("fleet: no outbox (the daemon was made without fleet-redis, or for a dry run)")
	}
	d.mu.Lock()
	host, window, rule := d.cfg.Fleet.Host, d.cfg.Window, fleet.Rule{Threshold: d.cfg.Threshold, Window: d.cfg.Window, BanTime: d.cfg.BanTime}
	d.mu.Unlock()
	path := statedir.FleetPushed(d.cfg.StateDir)
	pushed, err := readPushed(path)
	if err != nil {
		d.log.Warn("fleet: the saved push checkpoint cannot be read; pushing the outbox from its start (every write is idempotent)", "file", path, "err", err)
	}
	w := &fleet.Writer{
		Fleet:  f,
		Host:   host,
		Outbox: d.outbox,
		Pushed: pushed,
		Save: func(seq uint64) error {
			if err := atomicfile.WriteFile(path, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
				return err
			}
			if err := d.outbox.compact(seq, d.now()); err != nil {
				d.log.Warn("fleet: compacting the outbox", "err", err)
			}
			return nil
		},
		Mirror: func() ([]fleet.Record, error) { return d.fleetMirror(host) },
		Window: window,
		Rule:   &rule,
		Kick:   d.outbox.kick,
		Log:    d.log.With(slog.String("part", "fleet-writer")),
	}
	d.mu.Lock()
	d.fleetWriter = w
	d.mu.Unlock()
	d.SetFleetWriter(w) // status, fleet status and the metrics show it
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		d.outbox.flushLoop(ctx, w.Log)
	}()
	defer func() { <-flushed }()
	return w.Run(ctx)
}

// FleetWriterStatus is the fleet writer's status (ok false when none runs).
func (d *Daemon) FleetWriterStatus() (fleet.Status, bool) {
	d.mu.Lock()
	w := d.fleetWriter
	d.mu.Unlock()
	if w == nil {
		return fleet.Status{}, false
	}
	return w.Status(), true
}

func readPushed(path string) (uint64, error) {
	s, err := readCursor(path)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}

// fleetMirror is what the writer pushes again after the fleet lost writes:
// this host's own entries in force (not those from the fleet) and its
// unbans of the window.
func (d *Daemon) fleetMirror(host string) ([]fleet.Record, error) {
	entries, _, err := d.mirror.Load()
	if err != nil {
		return nil, err
	}
	now := d.now()
	var out []fleet.Record
	for e := range blocklist.InForce(entries, now) {
		if fleetHost(e) != "" {
			continue
		}
		out = append(out, ownRecord(e, host, e.Added, originOf(e)))
	}
	return append(out, d.outbox.tombstones(now)...), nil
}

// ownRecord is the block record of a mirror entry of this host, at version
// at (the entry's time when it has none).
func ownRecord(e blocklist.Entry, host string, at time.Time, origin string) fleet.Record {
	if at.IsZero() {
		at = time.Now()
	}
	return fleet.Record{Prefix: fleet.Canonical(e.Prefix), State: fleet.Block, Version: at.Truncate(time.Millisecond),
		Host: host, Expires: e.Expires, Jails: e.Jails, Bans: e.Bans, Origin: origin}
}

func originOf(e blocklist.Entry) string {
	if e.Manual {
		return "manual"
	}
	if e.Bans > 0 {
		return "log"
	}
	return "edit"
}

// shareBlocked appends the records of the offenders the recorder added to
// the mirror: version = the deciding ban's time, as the fleet's own
// decision takes. Called inside Durable, before the watcher's checkpoint.
func (d *Daemon) shareBlocked(pending []unrecorded, added []blocklist.Entry) error {
	if d.outbox == nil || len(added) == 0 {
		return nil
	}
	d.mu.Lock()
	host := d.cfg.Fleet.Host
	d.mu.Unlock()
	last := make(map[netip.Prefix]time.Time, len(pending))
	for _, u := range pending {
		last[u.entry.Prefix] = u.o.Last
	}
	recs := make([]fleet.Record, 0, len(added))
	for _, e := range added {
		recs = append(recs, ownRecord(e, host, last[e.Prefix], "log"))
	}
	if err := d.outbox.record(recs...); err != nil {
		return fmt.Errorf("sharing %d offenders with the fleet: %w", len(recs), err)
	}
	return nil
}

// shareNoticed appends the records of what the mirror gained and lost
// through someone else (`ban`, `unban`, a person's edit) since the daemon
// last looked, at the time it noticed them: not entries from the fleet,
// not expiries (see unblockReason), not what ApplyFleet removed (the seen
// set forgot those). Callers hold d.mu, before notifyNoticed.
func (d *Daemon) shareNoticed(added []blocklist.Entry, removed []netip.Prefix, at time.Time) {
	if d.outbox == nil || len(added) == 0 && len(removed) == 0 {
		return
	}
	host := d.cfg.Fleet.Host
	var recs []fleet.Record
	for _, e := range added {
		if fleetHost(e) != "" || e.Expired(at) {
			continue
		}
		recs = append(recs, ownRecord(e, host, at, originOf(e)))
	}
	for _, p := range removed {
		if d.unblockReason[p] == notify.ReasonExpiry {
			continue
		}
		recs = append(recs, fleet.Record{Prefix: fleet.Canonical(p), State: fleet.Unban, Version: at.Truncate(time.Millisecond), Host: host, Origin: "manual"})
	}
	if err := d.outbox.record(recs...); err != nil {
		// the mirror has the change; only the fleet does not hear of it
		d.log.Error("fleet: recording a change to share", "records", len(recs), "err", err)
	}
}
