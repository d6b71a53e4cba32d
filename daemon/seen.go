package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/atomicfile"
)

// seenSet remembers which prefixes the mirror held the last time the daemon
// looked, in STATE-DIR/seen, so that a line deleted while the daemon was
// stopped is still noticed — and forgiven — at the next start.
type seenSet struct {
	path string
	set  map[netip.Prefix]struct{}
}

func newSeenSet(path string) *seenSet { return &seenSet{path: path} }

// load reads the remembered set; on the very first start there is none and
// the current mirror is taken as it is (nothing to forgive).
func (s *seenSet) load(current []blocklist.Entry, _ time.Time) error {
	b, err := os.ReadFile(s.path)
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
	s.set = make(map[netip.Prefix]struct{})
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		p, err := netip.ParsePrefix(string(bytes.TrimSpace(sc.Bytes())))
		if err != nil {
			return fmt.Errorf("reading %s:%d: %w (delete the file to start afresh)", s.path, n, err)
		}
		s.set[p] = struct{}{}
	}
	return nil
}

// add remembers ps at once: if the daemon stops before the next update, a
// hand deletion of their lines must still be noticed at the next start.
func (s *seenSet) add(ps ...netip.Prefix) error {
	changed := false
	for _, p := range ps {
		if _, ok := s.set[p]; !ok {
			s.set[p] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.save()
}

// update replaces the remembered set with current and returns the prefixes
// that were remembered but are no longer there.
func (s *seenSet) update(current []blocklist.Entry) ([]netip.Prefix, error) {
	now := make(map[netip.Prefix]struct{}, len(current))
	for _, e := range current {
		now[e.Prefix] = struct{}{}
	}
	var removed []netip.Prefix
	for p := range s.set {
		if _, ok := now[p]; !ok {
			removed = append(removed, p)
		}
	}
	changed := len(removed) > 0 || len(now) != len(s.set)
	s.set = now
	if !changed {
		return nil, nil
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Addr().Less(removed[j].Addr()) })
	return removed, s.save()
}

func (s *seenSet) save() error {
	ps := make([]netip.Prefix, 0, len(s.set))
	for p := range s.set {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Addr().Less(ps[j].Addr()) })
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
