package blocklist

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/internal/nofollow"
)

// lock takes an exclusive advisory lock on path+".lock", waiting for any
// other writer (the daemon, a ban or unban command, another goroutine: each
// call opens its own descriptor, and flock locks conflict between
// descriptors). The returned function releases it.
func lock(path string) (unlock func() error, err error) {
	name := path + ".lock"
	f, err := nofollow.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, ErrSymlink) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", name, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close() // the lock error is the one that matters
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return func() error {
		// Closing the descriptor releases the flock.
		if err := f.Close(); err != nil {
			return fmt.Errorf("unlocking %s: %w", name, err)
		}
		return nil
	}, nil
}

// withLock runs fn holding the writers' lock on path (see lock).
func withLock(path string, fn func() error) (err error) {
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}()
	return fn()
}
