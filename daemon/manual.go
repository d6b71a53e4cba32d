package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/statedir"
)

// Ban is `recidivist ban`: it records entries in the mirror and, with a
// store (nil: not root, the daemon applies the mirror), puts them in the
// kernel sets, both in one transaction under the mirror's writer lock.
// A running daemon changes the kernel only inside the same lock, after
// checking that the mirror is the version it decided from, so nothing it
// does can be ordered behind this. It returns the entries the mirror did
// not list yet.
func Ban(mirror *blocklist.File, store ipsetstore.Store, entries []blocklist.Entry, now time.Time) ([]blocklist.Entry, error) {
	var added []blocklist.Entry
	err := mirror.Exclusive(func(tx *blocklist.Tx) error {
		var err error
		if added, err = tx.Add(entries...); err != nil || store == nil {
			return err
		}
		ks := make([]ipsetstore.Entry, len(entries))
		for i, e := range entries {
			ks[i] = KernelEntry(e, now)
		}
		if err := store.Add(ks...); err != nil {
			return &kernelWriteError{fmt.Errorf("in the mirror but not all in the kernel sets yet: %w", err)}
		}
		return nil
	})
	return added, stateDirError(mirror, err)
}

// Unban is `recidivist unban`: it removes the prefixes from the mirror and,
// with a store, from the kernel sets, in one transaction under the
// mirror's writer lock (see Ban). Once it returns without error the
// addresses are out of the kernel and stay out: a running daemon that read
// the mirror before sees it changed and decides again. It returns the
// entries removed from the mirror.
//
// An address inside a net range becomes a hole in it (see UnbanNet, which
// this is with the default thresholds of net escalation).
func Unban(mirror *blocklist.File, store ipsetstore.Store, ps []netip.Prefix) ([]blocklist.Entry, error) {
	res, err := UnbanNet(mirror, store, ps, config.Defaults().Net, time.Now())
	return res.Removed, err
}

// kernelWriteError is a kernel error inside Ban or Unban: its EPERM is the
// kernel's, not the state directory's.
type kernelWriteError struct{ error }

func (e *kernelWriteError) Unwrap() error { return e.error }

// stateDirError is statedir.Error for an error of the mirror's file or lock
// (the fix names the state directory); a kernel error is left as it is.
func stateDirError(mirror *blocklist.File, err error) error {
	var kerr *kernelWriteError
	if err == nil || errors.As(err, &kerr) {
		return err
	}
	return statedir.Error(filepath.Dir(mirror.Path()), err)
}
