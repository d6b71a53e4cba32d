package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

func entriesOf(ps ...string) []blocklist.Entry {
	es := make([]blocklist.Entry, len(ps))
	for i, p := range ps {
		es[i] = blocklist.Entry{Prefix: prefix(p)}
	}
	return es
}

func seenFile(t *testing.T, s *seenSet) []string {
	t.Helper()
	b, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func TestSeenSet_new_offenders_are_appended_and_a_restart_reads_them(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seen")
	s := newSeenSet(path)
	if err := s.load(entriesOf("192.0.2.1", "2001:db8::/64"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.add(prefix("198.51.100.7"), prefix("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("adding an offender rewrote the whole file; want an append")
	}
	if got := seenFile(t, s); !slices.Equal(got, []string{"192.0.2.1/32", "2001:db8::/64", "198.51.100.7/32"}) {
		t.Errorf("file holds %v", got)
	}
	again := newSeenSet(path)
	if err := again.load(nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	removed, err := again.update(entriesOf("192.0.2.1", "198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []netip.Prefix{prefix("2001:db8::/64")}) {
		t.Errorf("removed while stopped = %v, want 2001:db8::/64", removed)
	}
	if got := seenFile(t, again); !slices.Equal(got, []string{"192.0.2.1/32", "198.51.100.7/32"}) {
		t.Errorf("after a removal the file holds %v, want exactly the set", got)
	}
}

func TestSeenSet_an_append_cut_short_by_a_crash_is_dropped_not_misread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seen")
	if err := os.WriteFile(path, []byte("192.0.2.1/32\n192.0.2.1"), 0o600); err != nil { // "192.0.2.123/32" cut
		t.Fatal(err)
	}
	s := newSeenSet(path)
	if err := s.load(nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(s.set) != 1 {
		t.Errorf("set %v, want only 192.0.2.1/32", s.set)
	}
	if err := s.add(prefix("198.51.100.7")); err != nil {
		t.Fatal(err)
	}
	again := newSeenSet(path)
	if err := again.load(nil, time.Time{}); err != nil {
		t.Fatalf("the append ran on from the cut line: %v", err)
	}
	if _, ok := again.set[prefix("198.51.100.7")]; !ok || len(again.set) != 2 {
		t.Errorf("set after restart %v, want 192.0.2.1/32 and 198.51.100.7/32", again.set)
	}
}
