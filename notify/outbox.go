package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// OutboxPath is the outbox of a state directory.
func OutboxPath(stateDir string) string { return statedir.NotifyOutbox(stateDir) }

// outbox is the durable queue of events not yet delivered: a record per
// line. New events are appended (fsynced); taking events into a batch, a
// sink done with a batch and delivered events leaving all rewrite the file
// atomically.
type outbox struct {
	path string
	mu   sync.Mutex
	evs  []queued
	// sent are the ids of the last events that left the outbox (delivered
	// or given up), oldest first, kept in the file as sent markers: an
	// event found again after a crash (see append) is not sent twice.
	sent []string
}

// sentKept bounds the sent markers the outbox keeps.
const sentKept = 1024

// record is a line of the outbox: an event and, once it has been taken
// into a batch, that batch's key, how it was folded and the sinks done
// with it (acknowledged or given up). A batch cut short by a stop or a
// crash is thus sent again after the restart as it was, under the same
// key, and only to the sinks not yet done with it.
type record struct {
	Event
	Batch string   `json:"batch,omitempty"`
	Fold  string   `json:"fold,omitempty"` // KindSummary or KindDigest: the batch went out as one such event
	Done  []string `json:"done,omitempty"`
	// Sent marks a line that only remembers the id of an event gone from
	// the outbox (delivered or given up).
	Sent bool `json:"sent,omitempty"`
}

type queued struct {
	record
	arrived time.Time // for notify-group-wait: when this process took it
}

// openOutbox loads the outbox at path (none: empty). A line cut short by a
// crash, or one that does not parse, is dropped and reported in skipped.
func openOutbox(path string, now time.Time) (o *outbox, skipped int, err error) {
	o = &outbox{path: path}
	recs, skipped, err := readRecords(path)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		if r.Sent {
			o.sent = append(o.sent, r.ID)
			continue
		}
		o.evs = append(o.evs, queued{record: r, arrived: now})
	}
	if skipped > 0 {
		// Rewrite it so that the next append does not run on from a cut line.
		if err := o.save(); err != nil {
			return nil, skipped, err
		}
	}
	return o, skipped, nil
}

// readOutbox reads the queued events of the outbox at path (none: no
// records), without its sent markers.
func readOutbox(path string) (recs []record, skipped int, err error) {
	all, skipped, err := readRecords(path)
	for _, r := range all {
		if !r.Sent {
			recs = append(recs, r)
		}
	}
	return recs, skipped, err
}

// readRecords reads every record of the outbox at path, sent markers too.
func readRecords(path string) (recs []record, skipped int, err error) {
	f, err := nofollow.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening the notification outbox: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	for line := range bytes.Lines(b) {
		var r record
		if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &r) != nil || r.ID == "" {
			skipped++
			continue
		}
		recs = append(recs, r)
	}
	return recs, skipped, nil
}

// append writes evs to the end of the file, fsynced, then queues them.
// An event whose id the outbox holds, or sent lately, is dropped: the
// daemon gives a block the same id each time it finds it (a crash between
// its mirror write and its record of what it notified makes the next start
// find it again). It returns how many events it dropped so.
func (o *outbox) append(now time.Time, evs ...Event) (dropped int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	held := make(map[string]bool, len(o.sent)+len(o.evs))
	for _, id := range o.sent {
		held[id] = true
	}
	for _, q := range o.evs {
		held[q.ID] = true
	}
	fresh := evs[:0:0]
	for _, ev := range evs {
		if held[ev.ID] {
			dropped++
			continue
		}
		held[ev.ID] = true
		fresh = append(fresh, ev)
	}
	if len(fresh) == 0 {
		return dropped, nil
	}
	evs = fresh
	var b bytes.Buffer
	for _, ev := range evs {
		line, err := json.Marshal(record{Event: ev})
		if err != nil {
			return dropped, fmt.Errorf("encoding event %s: %w", ev.ID, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	f, err := nofollow.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return dropped, fmt.Errorf("writing the notification outbox: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dropped, fmt.Errorf("writing %s: %w", o.path, err)
	}
	for _, ev := range evs {
		o.evs = append(o.evs, queued{record: record{Event: ev}, arrived: now})
	}
	return dropped, nil
}

// peek returns the first n queued events (all when n <= 0).
func (o *outbox) peek(n int) []queued {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n <= 0 || n > len(o.evs) {
		n = len(o.evs)
	}
	return append([]queued(nil), o.evs[:n]...)
}

// len is the outbox depth.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.evs)
}

// take records that the first n events go out as the batch key (folded
// into one event of kind fold, unless fold is empty), before it is sent.
func (o *outbox) take(n int, key, fold string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.evs[:min(n, len(o.evs))] {
		o.evs[i].Batch, o.evs[i].Fold, o.evs[i].Done = key, fold, nil
	}
	return o.save()
}

// done records that sinks are done with the batch of the first n events.
func (o *outbox) done(n int, sinks ...string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.evs[:min(n, len(o.evs))] {
		q := &o.evs[i]
		for _, s := range sinks {
			if !slices.Contains(q.Done, s) {
				q.Done = append(q.Done, s)
			}
		}
	}
	return o.save()
}

// remove drops the first n events (delivered or given up) and rewrites the
// file without them.
func (o *outbox) remove(n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, len(o.evs))
	for _, q := range o.evs[:n] {
		o.sent = append(o.sent, q.ID)
	}
	o.sent = o.sent[max(0, len(o.sent)-sentKept):]
	o.evs = o.evs[n:]
	return o.save()
}

// save rewrites the file with exactly the queued events. Callers hold mu.
func (o *outbox) save() error {
	var b bytes.Buffer
	for _, id := range o.sent {
		line, err := json.Marshal(record{Event: Event{ID: id}, Sent: true})
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", id, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	for _, q := range o.evs {
		line, err := json.Marshal(q.record)
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", q.ID, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(o.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("saving the notification outbox: %w", err)
	}
	return nil
}
