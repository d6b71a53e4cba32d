package ipsetstore

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// list dumps the members of set; a missing set lists as empty. Callers
// hold s.mu.
func (s *NetlinkStore) list(set string) ([]Entry, error) {
	cs, err := s.listCounted(set)
	if err != nil {
		return nil, err
	}
	return Entries(cs), nil
}

// listCounted is list with each member's counters (zero in a set made
// without `counters`). Callers hold s.mu.
func (s *NetlinkStore) listCounted(set string) ([]Counted, error) {
	m := s.c.request(cmdList, unix.NLM_F_DUMP|unix.NLM_F_ACK)
	m.str(attrSetname, set)
	seq, err := s.c.send(m)
	if err != nil {
		return nil, err
	}
	var out []Counted
	re := s.c.receive(seq, func(b []byte) {
		attrs(b, func(a nlattr) {
			if a.typ != attrADT {
				return
			}
			attrs(a.data, func(d nlattr) {
				if e, ok := parseEntry(d.data); ok {
					out = append(out, e)
				}
			})
		})
	})
	if re != nil {
		if isNoSet(re.err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing set %s: %w", set, re.err)
	}
	return out, nil
}

// isNoSet reports whether err says the set does not exist.
func isNoSet(err error) bool { return errors.Is(err, syscall.ENOENT) }
