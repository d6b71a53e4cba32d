package ipsetstore

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxBatch bounds the elements of one message, in bytes, so that the nested
// IPSET_ATTR_ADT stays under its 16-bit length even with a last element of
// maximal size.
const maxBatch = 60000

// adt adds (cmdAdd) or deletes (cmdDel) es in set, many elements to a
// message the way `ipset restore` does: one IPSET_ATTR_ADT holding one
// IPSET_ATTR_DATA per element. Adding an existing element updates it;
// deleting an absent one is no error. On failure it returns the index of
// the element the kernel refused; the elements before it are applied.
// progress, if not nil, hears the size of each acknowledged batch.
// Callers hold s.mu.
func (s *NetlinkStore) adt(cmd uint16, set string, es []Entry, progress func(int)) (int, error) {
	withExt := cmd == cmdAdd
	for i := 0; i < len(es); {
		first := i
		m := s.c.request(cmd, unix.NLM_F_ACK) // no NLM_F_EXCL: like ipset -exist
		m.str(attrSetname, set)
		m.u32host(attrLineno, 0) // ipset wants it with IPSET_ATTR_ADT and writes the refused line into it
		adt := m.nest(attrADT)
		start := len(m.b)
		for i < len(es) && len(m.b)-start < maxBatch {
			m.entry(es[i], withExt, uint32(i-first+1))
			i++
		}
		m.end(adt)
		seq, err := s.c.send(m)
		if err != nil {
			return first, err
		}
		if re := s.c.receive(seq, func([]byte) {}); re != nil {
			idx := first
			if re.line > 0 && int(re.line) <= i-first {
				idx = first + int(re.line) - 1
			}
			return idx, re.err
		}
		if progress != nil {
			progress(i - first)
		}
	}
	return -1, nil
}

// addAll adds es to set, turning a refusal into an error that names the
// entry and the set (what to do is the command's to say). Callers hold
// s.mu.
func (s *NetlinkStore) addAll(set string, es []Entry, progress func(int)) error {
	idx, err := s.adt(cmdAdd, set, es, progress)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSetFull):
		return fmt.Errorf("adding %s: %w", es[idx].Prefix, fullError(set, s.cfg.Capacity(), err))
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("adding %s to set %s: %w (%w)", es[idx].Prefix, set, ErrNoSet, err)
	}
	return fmt.Errorf("adding %s to set %s: %w", es[idx].Prefix, set, err)
}
