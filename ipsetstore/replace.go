package ipsetstore

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Replace makes the sets hold exactly entries. For each family it fills a
// scratch set, swaps it with the live one (the rule keeps referencing the
// live name, so there is no moment without a set) and destroys the
// scratch set, which now holds the old content. The live sets must exist
// (Ensure); a missing one is created. A full scratch set aborts before the
// swap: the live set is left as it was.
func (s *NetlinkStore) Replace(entries []Entry, progress func(added int)) error {
	norm := make([]Entry, 0, len(entries))
	for _, e := range entries {
		n, err := Normalize(e)
		if err != nil {
			return fmt.Errorf("replacing the sets: %w", err)
		}
		norm = append(norm, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	var r Repairs
	if err := s.ensureSets(&r); err != nil {
		return err
	}
	parts := byFamily(norm)
	for _, f := range Families {
		live, tmp := s.cfg.Set(f), s.cfg.tempName(f)
		if err := s.destroy(tmp); err != nil { // left over from a crash
			return err
		}
		if err := s.create(tmp, f); err != nil {
			return err
		}
		if err := s.addAll(tmp, parts[f], progress); err != nil {
			fill := fmt.Errorf("filling %s to replace %s (left unchanged): %w", tmp, live, err)
			return errors.Join(fill, s.destroy(tmp))
		}
		if err := whileBusy(func() error { return s.h.IpsetSwap(live, tmp) }); err != nil {
			return fmt.Errorf("swapping %s with %s: %w", live, tmp, libErr(err))
		}
		if err := s.destroy(tmp); err != nil {
			return err
		}
	}
	return nil
}

// busyFor bounds how long whileBusy waits for other processes' listings of
// a set to end; a dump of a million entries takes about a second.
const busyFor = 30 * time.Second

// whileBusy runs op until it does not fail with EBUSY (or ipset's own
// IPSET_ERR_BUSY), which the kernel returns for a swap or destroy of a set
// that another process is listing
// (ipset list, a monitoring agent, a status command) at that moment. Such a
// listing ends on its own, so waiting it out is right; failing would leave
// the sets unrestored (at boot, open) or a daemon in a restart loop.
func whileBusy(op func() error) error {
	wait := 5 * time.Millisecond
	deadline := time.Now().Add(busyFor)
	for {
		err := op()
		busy := errors.Is(libErr(err), syscall.EBUSY) || errors.Is(libErr(err), syscall.Errno(ipsetErrBusy))
		if err == nil || !busy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
