package notify

import (
	"context"
	"errors"
	"time"
)

// sink delivers one batch of events somewhere (the hook, the webhook).
type sink interface {
	name() string
	send(ctx context.Context, key string, evs []Event) error
}

// retryError is a failure worth retrying (a network error, 5xx, 408, 429,
// a hook that failed or timed out); after, when not zero, is what the
// other side asked to wait (Retry-After).
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// retryable reports whether err is worth trying again, and after how long
// the other side asked for (0: our own backoff).
func retryable(err error) (bool, time.Duration) {
	var r *retryError
	if errors.As(err, &r) {
		return true, r.after
	}
	return false, 0
}
