package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// The other direction, this host's bans and records to the fleet, is not
// wired yet. The design it waits for: the watcher tells a hook each
// countable ban it observes; the daemon appends it to an outbox file in the
// state dir (the fleet.Outbox: seq, ban time, address, jail), made durable
// by Durable before the watcher's checkpoint, and truncated back to that
// checkpoint at start so a replayed line is never a second ban; the owner's
// transactions append their records to the same outbox (an offender's
// block at its deciding ban's time, ban/unban and hand edits at the time
// the owner saw them; never a record that came from the fleet). A
// fleet.Writer beside this reader pushes it from STATE-DIR/fleet-pushed,
// with the local mirror (entries not marked fleet:HOST) and the watcher's
// tombstones as what it pushes again after a loss.

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
