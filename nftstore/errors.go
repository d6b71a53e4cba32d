package nftstore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/recidivist/recidivist/ipsetstore"
)

// kernelErr adds the ipsetstore sentinels callers test for to an error of
// the kernel or the library, keeping the errno reachable with errors.Is.
func kernelErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: %w", ipsetstore.ErrNotPermitted, err)
	case errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("%w: nf_tables: %w", ipsetstore.ErrNoKernelSupport, err)
	}
	return err
}

// fullError names the set and its capacity. What to do about it is the
// command's to say (cmd/recidivist explainKernel), once.
func (s *Store) fullError(f ipsetstore.Family, err error) error {
	return fmt.Errorf("set %s is full (maxelem %d): %w: %w",
		s.displayName(f), s.cfg.Capacity(), ipsetstore.ErrSetFull, err)
}

// isNoEntry reports whether err is the kernel's ENOENT: a missing table,
// set, chain or element.
func isNoEntry(err error) bool { return errors.Is(err, syscall.ENOENT) }
