package blocklist

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Tx changes the mirror while its caller holds the lock that every writer
// takes (see File.Exclusive). Its methods are File's, without locking again.
type Tx struct{ f *File }

// Exclusive runs fn holding the mirror's writer lock: no other writer, in
// this process or another (a ban or unban command), changes the file until
// fn returns. Whoever changes the kernel sets together with the mirror does
// both inside one Exclusive, so that kernel writes follow the mirror's
// versions in order: a writer that read an older version sees, inside its
// own Exclusive, that the file moved on (Tx.Unchanged). The directory is
// created (0700) if missing.
func (f *File) Exclusive(fn func(tx *Tx) error) error {
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	return withLock(f.path, func() error { return fn(&Tx{f: f}) })
}

// Add is File.Add under the caller's lock.
func (t *Tx) Add(es ...Entry) ([]Entry, error) { return t.f.add(false, es) }

// Remove is File.Remove under the caller's lock.
func (t *Tx) Remove(ps ...netip.Prefix) ([]Entry, error) { return t.f.remove(false, ps) }

// Expire is File.Expire under the caller's lock.
func (t *Tx) Expire(now time.Time) ([]Entry, error) { return t.f.expire(false, now) }

// Entries returns the entries in force, read under the caller's lock (bad
// lines are skipped, as Load skips them).
func (t *Tx) Entries() ([]Entry, error) {
	d, _, err := t.f.read()
	if err != nil {
		return nil, err
	}
	return d.entries(), nil
}

// Update writes each of es over the line in force that lists its prefix
// (its metadata afresh: see Entry.Rewritten) and returns those it found.
func (t *Tx) Update(es ...Entry) ([]Entry, error) {
	var updated []Entry
	err := t.f.modify(false, false, func(d *document) (bool, error) {
		by := make(map[netip.Prefix]Entry, len(es))
		for _, e := range es {
			by[canonical(e.Prefix)] = e.Rewritten()
		}
		for i, l := range d.lines {
			if e, ok := by[l.entry.Prefix]; ok && l.kind == kindEntry {
				e.Prefix = l.entry.Prefix
				d.lines[i] = line{text: e.String(), kind: kindEntry, entry: e}
				updated = append(updated, e)
			}
		}
		return len(updated) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("updating %s: %w", t.f.path, err)
	}
	return updated, nil
}

// Unchanged is File.Unchanged: under the lock, no other writer can change
// the answer before the caller acts on it (a person's edit in place can).
func (t *Tx) Unchanged() bool { return t.f.Unchanged() }
