package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
)

// seenSet remembers which prefixes the mirror held the last time the daemon
// looked, in STATE-DIR/seen, so that a line deleted while the daemon was
// stopped is still noticed — and forgiven — at the next start.
//
// The file is a prefix per line. New offenders are appended (a few bytes
// and an fsync, whatever the size of the blocklist); it is rewritten whole
// only when prefixes leave. So it never holds more lines than the set.
type seenSet struct {
	path string
	mu   sync.Mutex // the recorder adds outside d.mu
	set  map[netip.Prefix]struct{}
}

func newSeenSet(path string) *seenSet { return &seenSet{path: path} }

// load reads the remembered set; on the very first start there is none and
// the current mirror is taken as it is (nothing to forgive).
func (s *seenSet) load(current []blocklist.Entry, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := readNoFollow(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.set = make(map[netip.Prefix]struct{}, len(current))
		for _, e := range current {
			s.set[e.Prefix] = struct{}{}
		}
		return s.save()
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.path, err)
	}
	s.set = make(map[netip.Prefix]struct{}, bytes.Count(b, []byte{'\n'}))
	text := string(b)
	for n := 1; text != ""; n++ {
		line, rest, complete := strings.Cut(text, "\n")
		text = rest
		if !complete {
			// An append cut short by a crash: the prefix may be cut too
			// ("192.0.2.1" of "192.0.2.123"). Drop it, and rewrite the file
			// so that the next append does not run on from it; its mirror
			// line is still there, and the next update remembers it again.
			return s.save()
		}
		p, err := blocklist.ParsePrefix(strings.TrimSpace(line)) // its error shows a short, escaped start of the line
		if err != nil {
			return fmt.Errorf("reading %s:%d: %w (delete the file to start afresh)", s.path, n, err)
		}
		s.set[p] = struct{}{}
	}
	return nil
}

// readNoFollow reads the file at path, refusing a symbolic link.
func readNoFollow(path string) ([]byte, error) {
	f, err := nofollow.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// add remembers ps at once: if the daemon stops before the next update, a
// hand deletion of their lines must still be noticed at the next start.
func (s *seenSet) add(ps ...netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh []netip.Prefix
	for _, p := range ps {
		if _, ok := s.set[p]; !ok {
			s.set[p] = struct{}{}
			fresh = append(fresh, p)
		}
	}
	return s.append(fresh)
}

// forget drops ps from the remembered set and the file, so that their
// leaving the mirror is not noticed as an unban (idle unblock forgives
// nothing).
func (s *seenSet) forget(ps ...netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		delete(s.set, p)
	}
	return s.save()
}

// update replaces the remembered set with current and returns the prefixes
// that were remembered but are no longer there.
func (s *seenSet) update(current []blocklist.Entry) ([]netip.Prefix, error) {
	removed, _, err := s.diff(current)
	return removed, err
}

// diff is update that also returns the entries of current that were not
// remembered: added to the mirror by someone else (ban, a person) since
// the last look. The daemon's own additions are remembered as it makes
// them (add), so they are never fresh here.
func (s *seenSet) diff(current []blocklist.Entry) (removed []netip.Prefix, added []blocklist.Entry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := make(map[netip.Prefix]struct{}, len(current))
	var fresh []netip.Prefix
	for _, e := range current {
		now[e.Prefix] = struct{}{}
		if _, ok := s.set[e.Prefix]; !ok {
			fresh = append(fresh, e.Prefix)
			added = append(added, e)
		}
	}
	for p := range s.set {
		if _, ok := now[p]; !ok {
			removed = append(removed, p)
		}
	}
	s.set = now
	if len(removed) == 0 {
		return nil, added, s.append(fresh)
	}
	slices.SortFunc(removed, netip.Prefix.Compare)
	return removed, added, s.save()
}

// append adds ps, new to the set, to the end of the file.
func (s *seenSet) append(ps []netip.Prefix) error {
	if len(ps) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	f, err := nofollow.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("saving %s: %w", s.path, err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("saving %s: %w", s.path, err)
	}
	return nil
}

// save rewrites the file with exactly the set, atomically.
func (s *seenSet) save() error {
	ps := make([]netip.Prefix, 0, len(s.set))
	for p := range s.set {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, netip.Prefix.Compare)
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(s.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("saving %s: %w", s.path, err)
	}
	return nil
}
