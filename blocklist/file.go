package blocklist

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
)

// File is the mirror file at one path. Its methods may be called from any
// number of goroutines and processes at once: writers are serialised by an
// advisory lock on Path()+".lock", and each re-reads the file under that
// lock, so an edit made in between (by a human or another process) is kept.
type File struct {
	path string

	mu     sync.Mutex
	known  fs.FileInfo // the file as this File last read or wrote it; nil before
	policy Policy      // what a line must pass to be in force
	absent bool        // the last read found no file
}

// Open returns the mirror at path. It does not touch the disk.
func Open(path string) *File { return &File{path: path} }

// SetPolicy sets the refusal rules every line must pass to be in force
// (the configured ignore list; see Policy). Until it is called the zero
// Policy applies: loopback, non-unicast addresses, 0.0.0.0/0, ::/0 and
// unmarked ranges wider than /16 or /32 are refused all the same. It takes
// effect at the next read.
func (f *File) SetPolicy(p Policy) {
	f.mu.Lock()
	f.policy = p
	f.mu.Unlock()
}

// Path returns the path of the mirror file.
func (f *File) Path() string { return f.path }

// Load reads the mirror and returns its entries in force, in file order. A
// missing file is an empty list. Bad and duplicate lines, and lines whose
// address the policy refuses (see SetPolicy), are returned as LineErrors
// and skipped; every good line is in the list. The error is for the file as
// a whole: unreadable, a symbolic link (wrapping ErrSymlink: never
// followed), or refused (wrapping ErrInsecure, with the chmod that fixes
// it) because other users could change it.
func (f *File) Load() ([]Entry, []*LineError, error) {
	d, errs, err := f.read()
	if err != nil {
		return nil, nil, err
	}
	return d.entries(), errs, nil
}

// Add appends the entries whose prefix is not listed yet and returns them
// (canonical, as written). The file (mode 0600) and its directory (0700)
// are created if missing. The write is atomic; nothing is written when
// every entry is already there.
func (f *File) Add(es ...Entry) ([]Entry, error) { return f.add(true, es) }

func (f *File) add(lockIt bool, es []Entry) ([]Entry, error) {
	want := make([]Entry, 0, len(es))
	for _, e := range es {
		if !e.Prefix.IsValid() {
			return nil, fmt.Errorf("adding to %s: entry without a prefix: %w", f.path, ErrNotAddress)
		}
		e.Prefix = canonical(e.Prefix)
		want = append(want, e)
	}
	var added []Entry
	err := f.modify(true, lockIt, func(d *document) (bool, error) {
		ps := make(map[netip.Prefix]bool, len(want))
		for _, e := range want {
			ps[e.Prefix] = true
		}
		// A refused line of the same prefix gives way: the new line,
		// which passed the policy (a forced range, say), replaces it.
		replaced := d.dropRefused(ps)
		listed := d.listed(ps)
		for _, e := range want {
			if listed[e.Prefix] {
				continue
			}
			d.add(e)
			listed[e.Prefix] = true // given twice: written once
			added = append(added, e)
		}
		return len(added) > 0 || replaced > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("adding to %s: %w", f.path, err)
	}
	return added, nil
}

// Remove deletes the lines of exactly these prefixes (every spelling of the
// same address counts as the same prefix), those the policy refuses too,
// and returns the entries removed;
// a prefix that is not listed is not an error and is simply not returned.
// An address that is not listed itself but lies inside a listed range is
// refused with ErrInsideRange naming the range, and nothing is removed:
// silently keeping it blocked would surprise, and unblocking the whole
// range even more.
func (f *File) Remove(ps ...netip.Prefix) ([]Entry, error) { return f.remove(true, ps) }

func (f *File) remove(lockIt bool, ps []netip.Prefix) ([]Entry, error) {
	drop := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			return nil, fmt.Errorf("removing from %s: invalid prefix: %w", f.path, ErrNotAddress)
		}
		drop[canonical(p)] = true
	}
	var removed []Entry
	err := f.modify(false, lockIt, func(d *document) (bool, error) {
		listed := d.listed(drop)
		for p := range drop {
			if listed[p] {
				continue
			}
			if r, ok := d.rangeContaining(p); ok {
				return false, fmt.Errorf("unbanning %s: %w %s; unban %s instead (and ban again what should stay blocked)",
					formatPrefix(p), ErrInsideRange, r, r)
			}
		}
		var dropped int
		removed, dropped = d.remove(func(e Entry) bool { return drop[e.Prefix] })
		return dropped > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("removing from %s: %w", f.path, err)
	}
	return removed, nil
}

// Expire removes the entries whose expiry is set and not after now, and
// returns them.
func (f *File) Expire(now time.Time) ([]Entry, error) { return f.expire(true, now) }

func (f *File) expire(lockIt bool, now time.Time) ([]Entry, error) {
	var removed []Entry
	err := f.modify(false, lockIt, func(d *document) (bool, error) {
		var dropped int
		removed, dropped = d.remove(func(e Entry) bool { return e.Expired(now) })
		return dropped > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("expiring entries of %s: %w", f.path, err)
	}
	return removed, nil
}

// read parses the file; a missing file is an empty document.
func (f *File) read() (*document, []*LineError, error) {
	fh, err := nofollow.Open(f.path)
	if errors.Is(err, ErrSymlink) {
		return nil, nil, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		f.remember(nil)
		return &document{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer fh.Close()
	// Checked on the open descriptor, so the file checked is the file read.
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("checking %s: %w", f.path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("reading %s: not a regular file", f.path)
	}
	if err := checkFile(f.path, fi); err != nil {
		return nil, nil, err
	}
	// Read into a string sized for the file: the lines of the document
	// share it, with no copy (a mirror of a million entries is ~70 MB).
	var sb strings.Builder
	sb.Grow(int(fi.Size()) + 1)
	if _, err := io.Copy(&sb, fh); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", f.path, err)
	}
	f.mu.Lock()
	policy := f.policy
	f.mu.Unlock()
	d, errs := parseDocument(f.path, sb.String(), policy)
	f.remember(fi)
	return d, errs, nil
}

// remember records fi as the version of the file this File knows; nil:
// there is no file.
func (f *File) remember(fi fs.FileInfo) {
	f.mu.Lock()
	f.known, f.absent = fi, fi == nil
	f.mu.Unlock()
}

// modify runs change on the current content under the lock (taken here
// with lockIt, held by the caller's Exclusive without) and writes the
// result back atomically if the content changed. With create unset a
// missing directory means there is nothing to change.
func (f *File) modify(create, lockIt bool, change func(*document) (changed bool, err error)) error {
	dir := filepath.Dir(f.path)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating directory %s: %w", dir, err)
		}
	} else if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	if lockIt {
		return withLock(f.path, func() error { return f.rewrite(change) })
	}
	return f.rewrite(change)
}

// rewrite runs change on the current content and writes the result back
// atomically if it changed. Callers hold the writers' lock.
func (f *File) rewrite(change func(*document) (changed bool, err error)) error {
	d, _, err := f.read()
	if err != nil {
		return err
	}
	changed, err := change(d)
	if err != nil || !changed {
		return err
	}
	if err := atomicfile.WriteFile(f.path, d.bytes(), 0o600); err != nil {
		return err
	}
	// Still under the lock: no other writer can have replaced it yet.
	fi, err := os.Lstat(f.path)
	f.remember(fi)
	if err != nil {
		return fmt.Errorf("checking %s after writing it: %w", f.path, err)
	}
	return nil
}

// Unchanged reports whether the file is still exactly as this File last
// read or wrote it: the same file (device and inode), size, modification
// time and mode (a chmod that makes it unsafe is seen), or still no file
// when there was none. A daemon tells its own writes, and versions it has
// already acted on, from a person's or another command's changes by it. An
// edit in place that keeps the size within the same tick of the file
// system's clock would pass for unchanged; editors and `sed -i` replace the
// file, and appending changes the size.
func (f *File) Unchanged() bool {
	f.mu.Lock()
	known, absent := f.known, f.absent
	f.mu.Unlock()
	fi, err := os.Lstat(f.path)
	if absent {
		return errors.Is(err, fs.ErrNotExist)
	}
	if known == nil {
		return false
	}
	return err == nil && os.SameFile(fi, known) && fi.Size() == known.Size() && fi.ModTime().Equal(known.ModTime()) && fi.Mode() == known.Mode()
}
