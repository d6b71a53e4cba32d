package daemon

import (
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/recidivist/recidivist/ipsetstore"
)

// dryRunStore is the kernel of a dry run: it logs every change the daemon
// would make to the sets and rules and makes none. It remembers what it was
// told to hold, so that the reconcile diffs against it and logs each change
// once, as it would make it, instead of the whole mirror every interval.
// Status reports no sets and no rules: a dry run creates nothing.
type dryRunStore struct {
	log *slog.Logger

	mu      sync.Mutex
	held    map[netip.Prefix]ipsetstore.Entry
	ensured bool // Ensure logged once: every reconcile calls it
}

var _ ipsetstore.Store = (*dryRunStore)(nil)

func newDryRunStore(log *slog.Logger) *dryRunStore {
	return &dryRunStore{log: log, held: map[netip.Prefix]ipsetstore.Entry{}}
}

func (s *dryRunStore) Ensure() (ipsetstore.Repairs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ensured {
		s.ensured = true
		s.log.Info("dry run: would make sure the sets and rules exist")
	}
	return ipsetstore.Repairs{}, nil
}

// EnsureRules logs like Ensure: a dry run creates neither sets nor rules.
func (s *dryRunStore) EnsureRules() (ipsetstore.Repairs, error) { return s.Ensure() }

func (s *dryRunStore) Add(es ...ipsetstore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		e, err := ipsetstore.Normalize(e)
		if err != nil {
			return err
		}
		s.held[e.Prefix] = e
		s.log.Info("dry run: would add to the set", "prefix", e.Prefix, "timeout", e.Timeout)
	}
	return nil
}

func (s *dryRunStore) Exchange(add []ipsetstore.Entry, del []netip.Prefix) error {
	if err := s.Add(add...); err != nil {
		return err
	}
	return s.Del(del...)
}

func (s *dryRunStore) Del(ps ...netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		delete(s.held, p.Masked())
		s.log.Info("dry run: would delete from the set", "prefix", p)
	}
	return nil
}

func (s *dryRunStore) List() ([]ipsetstore.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ipsetstore.Entry, 0, len(s.held))
	for _, e := range s.held {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b ipsetstore.Entry) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out, nil
}

func (s *dryRunStore) Replace(entries []ipsetstore.Entry, _ func(added int)) error {
	held := make(map[netip.Prefix]ipsetstore.Entry, len(entries))
	for _, e := range entries {
		n, err := ipsetstore.Normalize(e)
		if err != nil {
			return err
		}
		held[n.Prefix] = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = held
	s.log.Info("dry run: would load the sets", "entries", len(held))
	return nil
}

func (s *dryRunStore) Status() (ipsetstore.Status, error) { return ipsetstore.Status{}, nil }

func (s *dryRunStore) Teardown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = map[netip.Prefix]ipsetstore.Entry{}
	s.log.Info("dry run: would remove the rules and the sets")
	return nil
}
