package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
	"github.com/recidivist/recidivist/watcher"
)

// outbox is this host's history of what it shares with the fleet, in
// STATE-DIR/fleet-outbox (statedir.FleetOutbox): its countable bans (told
// by the watcher) and the records of its own blocks and unbans (appended
// by the owner's transactions), one line each, numbered by seq. It is the
// fleet.Outbox the fleet.Writer pushes from; the writer sees only what is
// on disk.
//
// The watcher's bans are buffered and written by sync, which the daemon's
// Durable calls before the watcher saves a checkpoint; the checkpoint
// carries the outbox's last seq (the watcher's Mark). Bans heard after that
// mark come from lines a restart reads again: at open they are remembered,
// and a replayed line that brings the same ban (time, address, jail) again
// is not a second ban. Records are written at once.
//
// The file is appended to; compact rewrites it without the items the
// fleet acknowledged that are older than the window, so it holds a window
// of history and the backlog.
//
// A new outbox numbers from the clock in microseconds (see openOutbox).
//
//	E <seq> <ban time ms> <addr> <jail>
//	R <seq> <block|unban> <prefix> <version ms> <expires ms|0> <host> <origin> <bans> <jails,|->
type outbox struct {
	path   string
	window time.Duration

	syncing sync.Mutex // one write of the file at a time; taken before mu
	mu      sync.Mutex
	items   []outboxItem // in seq order, durable or buffered
	synced  uint64       // the last seq on disk
	last    uint64
	buf     []byte // encoded items after synced
	// replay counts the bans after the watcher's mark: lines the watcher
	// reads again bring them again.
	replay map[replayKey]int
	kick   chan struct{} // buffered 1: the outbox grew on disk
	// buffered (buffered 1) wakes flushLoop: bans wait in buf.
	buffered chan struct{}
}

type outboxItem struct {
	seq uint64
	at  time.Time // ban time, or the record's version
	ev  *fleet.Event
	rec *fleet.Record
}

type replayKey struct {
	ms   int64
	addr netip.Addr
	jail string
}

var _ fleet.Outbox = (*outbox)(nil)

// openOutbox reads the outbox at path; mark is the last seq the watcher's
// checkpoint covers (see watcher.Watcher.Mark). A torn last line (a crash
// while appending) is dropped.
func openOutbox(path string, window time.Duration, mark uint64) (*outbox, error) {
	o := &outbox{path: path, window: window, replay: map[replayKey]int{}, kick: make(chan struct{}, 1), buffered: make(chan struct{}, 1)}
	data, err := readNoFollow(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the fleet outbox: %w", err)
	}
	text := string(data)
	torn := false
	for n := 1; text != ""; n++ {
		line, rest, complete := strings.Cut(text, "\n")
		text = rest
		if !complete {
			torn = true // an append cut short by a crash
			break
		}
		it, err := parseOutboxLine(line)
		if err != nil {
			return nil, fmt.Errorf("reading %s:%d: %w", path, n, err)
		}
		if it.seq <= o.last {
			return nil, fmt.Errorf("reading %s:%d: seq %d after %d", path, n, it.seq, o.last)
		}
		o.items = append(o.items, it)
		o.last = it.seq
		if it.ev != nil && it.seq > mark {
			o.replay[keyOf(*it.ev)]++
		}
	}
	if len(o.items) == 0 {
		// A new outbox (first start, or the old one lost or compacted to
		// nothing) numbers on from the clock: the fleet and fleet-pushed may
		// hold seqs of an outbox gone, and a seq used again would be taken
		// for a ban already counted.
		o.last = max(o.last, uint64(time.Now().UnixMicro()))
	}
	o.synced = o.last
	if torn {
		if err := o.rewrite(o.items); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// openOutbox opens the daemon's outbox. One it cannot read is moved aside
// (its unpushed bans are lost to the fleet, logged) rather than keeping
// the daemon from blocking: the fleet is never in enforcement's way.
func (d *Daemon) openOutbox(cfg *config.Config, mark uint64) (*outbox, error) {
	path := statedir.FleetOutbox(cfg.StateDir)
	o, err := openOutbox(path, cfg.Window, mark)
	if err == nil || errors.Is(err, fs.ErrPermission) {
		return o, err
	}
	if mvErr := os.Rename(path, path+".corrupt"); mvErr != nil {
		return nil, fmt.Errorf("moving aside the unreadable fleet outbox: %w (after %w)", mvErr, err)
	}
	d.log.Error("fleet: the outbox is unreadable; moved it aside and starting a new one (its bans not pushed yet are not shared)", "err", err, "moved_to", path+".corrupt")
	return openOutbox(path, cfg.Window, mark)
}

func keyOf(e fleet.Event) replayKey {
	return replayKey{ms: e.Time.UnixMilli(), addr: e.Addr, jail: e.Jail}
}

// ban buffers one countable ban (watcher.Config.OnBan): it is written by
// the next sync. A ban a replayed line brings again is dropped.
func (o *outbox) ban(b watcher.Ban) {
	e := fleet.Event{Addr: b.Addr, Time: b.Time.Truncate(time.Millisecond), Jail: b.Jail}
	o.mu.Lock()
	defer o.mu.Unlock()
	k := keyOf(e)
	if n := o.replay[k]; n > 0 {
		if n == 1 {
			delete(o.replay, k)
		} else {
			o.replay[k] = n - 1
		}
		return
	}
	o.last++
	e.Seq = o.last
	o.items = append(o.items, outboxItem{seq: o.last, at: e.Time, ev: &e})
	o.buf = appendOutboxLine(o.buf, o.items[len(o.items)-1])
	select {
	case o.buffered <- struct{}{}:
	default:
	}
}

// flushLoop writes buffered bans as they come, so that the fleet hears of
// them without waiting for the watcher's next checkpoint (which syncs them
// too: see Durable); a restart that reads their lines again does not
// share them twice (see openOutbox). It ends with ctx.
func (o *outbox) flushLoop(ctx context.Context, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.buffered:
		}
		if err := o.sync(); err != nil {
			log.Warn("fleet: writing the outbox; the next checkpoint tries again", "err", err)
		}
	}
}

// mark is the last seq given (watcher.Config.Mark).
func (o *outbox) mark() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// record appends records and makes them durable, with any ban buffered
// before them.
func (o *outbox) record(recs ...fleet.Record) error {
	if len(recs) == 0 {
		return nil
	}
	o.mu.Lock()
	for i := range recs {
		r := recs[i]
		r.Version = r.Version.Truncate(time.Millisecond)
		o.last++
		o.items = append(o.items, outboxItem{seq: o.last, at: r.Version, rec: &r})
		o.buf = appendOutboxLine(o.buf, o.items[len(o.items)-1])
	}
	o.mu.Unlock()
	return o.sync()
}

// sync writes the buffered items and fsyncs them. The fsync happens
// outside o.mu: the watcher, telling the next ban, never waits for it.
func (o *outbox) sync() error {
	o.syncing.Lock()
	defer o.syncing.Unlock()
	o.mu.Lock()
	if len(o.buf) == 0 {
		o.mu.Unlock()
		return nil
	}
	buf, upTo := o.buf, o.last
	o.buf = nil
	o.mu.Unlock()
	f, err := nofollow.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		// part of buf may be there: write the whole file again
		if rerr := o.rewriteLocked(); rerr != nil {
			o.buf = append(buf, o.buf...)
			return fmt.Errorf("writing the fleet outbox: %w", err)
		}
		return nil
	}
	o.synced = upTo
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// rewriteLocked writes every item, the buffered ones too, and fsyncs.
// Callers hold o.mu and o.syncing.
func (o *outbox) rewriteLocked() error { return o.rewrite(o.items) }

// rewrite replaces the file with items, atomically. Callers hold o.mu.
func (o *outbox) rewrite(items []outboxItem) error {
	var b []byte
	for _, it := range items {
		b = appendOutboxLine(b, it)
	}
	if err := atomicfile.WriteFile(o.path, b, 0o600); err != nil {
		return fmt.Errorf("rewriting the fleet outbox: %w", err)
	}
	o.items = items
	o.buf = o.buf[:0]
	o.synced = o.last
	return nil
}

// compactAt is how many droppable items make compact rewrite the file.
const compactAt = 4096

// compact drops the items the fleet acknowledged (seq ≤ pushed) that are
// older than the window before now, once there are enough of them to be
// worth a rewrite (compactAt, or half the file).
func (o *outbox) compact(pushed uint64, now time.Time) error {
	o.syncing.Lock()
	defer o.syncing.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	limit := min(pushed, o.synced)
	floor := now.Add(-o.window)
	keep := o.items[:0:0]
	for _, it := range o.items {
		if it.seq > limit || !it.at.Before(floor) {
			keep = append(keep, it)
		}
	}
	dropped := len(o.items) - len(keep)
	if dropped == 0 || dropped < compactAt && dropped*2 < len(o.items) {
		return nil
	}
	if len(o.buf) > 0 { // buffered bans go into the new file too
		return nil
	}
	return o.rewrite(keep)
}

// After returns up to n durable items after seq (fleet.Outbox).
func (o *outbox) After(seq uint64, n int) ([]fleet.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, _ := slices.BinarySearchFunc(o.items, seq+1, func(it outboxItem, s uint64) int { return cmp.Compare(it.seq, s) })
	var out []fleet.Item
	for ; i < len(o.items) && len(out) < n && o.items[i].seq <= o.synced; i++ {
		it := o.items[i]
		out = append(out, fleet.Item{Seq: it.seq, Event: it.ev, Record: it.rec})
	}
	return out, nil
}

// Last is the last durable seq (fleet.Outbox).
func (o *outbox) Last() (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.synced, nil
}

// Rewind is the seq before the first item inside the window ending at now
// (fleet.Outbox): every ban that can still count comes after it.
func (o *outbox) Rewind(window time.Duration, now time.Time) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	floor := now.Add(-window)
	for _, it := range o.items {
		if !it.at.Before(floor) {
			return it.seq - 1, nil
		}
	}
	return o.synced, nil
}

// tombstones returns the newest unban record of each prefix inside the
// window ending at now: pushed again with the mirror after a loss.
func (o *outbox) tombstones(now time.Time) []fleet.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	floor := now.Add(-o.window)
	newest := map[netip.Prefix]fleet.Record{}
	for _, it := range o.items {
		if it.rec == nil || it.rec.State != fleet.Unban || it.at.Before(floor) {
			continue
		}
		if cur, ok := newest[it.rec.Prefix]; !ok || it.rec.Wins(cur) {
			newest[it.rec.Prefix] = *it.rec
		}
	}
	out := make([]fleet.Record, 0, len(newest))
	for _, r := range newest {
		out = append(out, r)
	}
	return out
}

func appendOutboxLine(b []byte, it outboxItem) []byte {
	if e := it.ev; e != nil {
		return fmt.Appendf(b, "E %d %d %s %s\n", it.seq, e.Time.UnixMilli(), e.Addr, e.Jail)
	}
	r := it.rec
	var x int64
	if !r.Expires.IsZero() {
		x = r.Expires.UnixMilli()
	}
	jails := strings.Join(r.Jails, ",")
	if jails == "" {
		jails = "-"
	}
	return fmt.Appendf(b, "R %d %s %s %d %d %s %s %d %s\n", it.seq, r.State, fleet.Field(r.Prefix), r.Version.UnixMilli(), x, r.Host, r.Origin, r.Bans, jails)
}

var errOutboxLine = errors.New("bad fleet outbox line")

func parseOutboxLine(line string) (outboxItem, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return outboxItem{}, errOutboxLine
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || seq == 0 {
		return outboxItem{}, errOutboxLine
	}
	switch {
	case f[0] == "E" && len(f) == 5:
		ms, err1 := strconv.ParseInt(f[2], 10, 64)
		a, err2 := netip.ParseAddr(f[3])
		if err1 != nil || err2 != nil {
			return outboxItem{}, errOutboxLine
		}
		e := fleet.Event{Addr: a, Time: time.UnixMilli(ms).UTC(), Jail: f[4], Seq: seq}
		return outboxItem{seq: seq, at: e.Time, ev: &e}, nil
	case f[0] == "R" && len(f) == 10:
		st := fleet.State(f[2])
		p, err1 := parseOutboxPrefix(f[3])
		v, err2 := strconv.ParseInt(f[4], 10, 64)
		x, err3 := strconv.ParseInt(f[5], 10, 64)
		n, err4 := strconv.Atoi(f[8])
		if err := errors.Join(err1, err2, err3, err4); err != nil || st != fleet.Block && st != fleet.Unban {
			return outboxItem{}, errOutboxLine
		}
		r := fleet.Record{Prefix: p, State: st, Version: time.UnixMilli(v).UTC(), Host: f[6], Origin: f[7], Bans: n}
		if x != 0 {
			r.Expires = time.UnixMilli(x).UTC()
		}
		if f[9] != "-" {
			r.Jails = strings.Split(f[9], ",")
		}
		return outboxItem{seq: seq, at: r.Version, rec: &r}, nil
	}
	return outboxItem{}, errOutboxLine
}

func parseOutboxPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return fleet.Canonical(p), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return fleet.Canonical(netip.PrefixFrom(a, a.BitLen())), nil
}
