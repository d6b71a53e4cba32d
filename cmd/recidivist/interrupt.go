package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals stop every command: Ctrl-C and systemd's stop.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}

// signalled is the cause of the root context once a stop signal arrived.
// It is a cancellation (errors.Is context.Canceled) that knows its signal,
// so that the exit status can say which (see interruptStatus).
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string        { return "stopped by " + signalName(s.sig) }
func (s signalled) Is(target error) bool { return target == context.Canceled }

// signalName names the stop signals as kill(1) and systemd do.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// notifyContext is signal.NotifyContext for stopSignals whose cause names
// the signal (signal.NotifyContext's cause is only text). After the first
// signal the default action is back, so a second Ctrl-C ends a command
// that is slow to stop.
func notifyContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals...)
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal) // Notify delivers syscall.Signal on Unix
			cancel(signalled{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(context.Canceled)
	}
}

// interruptStatus is the exit status of a command that a stop signal cut
// short: 128 plus the signal's number, as a shell reports a process the
// signal killed (130 for Ctrl-C, 143 for SIGTERM). ok is false when no
// stop signal arrived.
func interruptStatus(ctx context.Context) (status int, sig syscall.Signal, ok bool) {
	var s signalled
	if !errors.As(context.Cause(ctx), &s) {
		return 0, 0, false
	}
	return 128 + int(s.sig), s.sig, true
}
