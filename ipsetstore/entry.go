package ipsetstore

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxComment is the longest comment the kernel keeps, in bytes.
const MaxComment = 255

// MaxTimeout is the longest per-entry timeout the kernel keeps
// (IPSET_MAX_TIMEOUT, about 24.8 days); longer ones are capped to it.
const MaxTimeout = 2147483 * time.Second

// Normalize returns e the way the kernel stores it: the prefix masked, the
// timeout rounded up to whole seconds and capped at MaxTimeout, the comment
// cut to MaxComment bytes. An invalid or /0 prefix matches ErrBadPrefix.
// The fake in ipsettest uses it too, so that both stores agree.
func Normalize(e Entry) (Entry, error) {
	if !e.Prefix.IsValid() || e.Prefix.Bits() == 0 {
		return e, fmt.Errorf("%w: %q", ErrBadPrefix, e.Prefix)
	}
	e.Prefix = e.Prefix.Masked()
	switch {
	case e.Timeout < 0:
		e.Timeout = time.Second // already due: the shortest the kernel has
	case e.Timeout > MaxTimeout:
		e.Timeout = MaxTimeout
	case e.Timeout%time.Second != 0:
		e.Timeout = e.Timeout.Truncate(time.Second) + time.Second
	}
	if len(e.Comment) > MaxComment {
		c := e.Comment[:MaxComment]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
		e.Comment = c
	}
	return e, nil
}

func secs(s uint32) time.Duration { return time.Duration(s) * time.Second }
