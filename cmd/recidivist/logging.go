package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

// logOutput is the process's log handler. Its level and format change in
// place (a reload of log-level and log-format): every logger made from it,
// with attributes or groups of its own (the follower's "log"), follows.
type logOutput struct {
	w     io.Writer
	level slog.LevelVar
	inner atomic.Pointer[slog.Handler] // a text or JSON handler on w at level
}

// newLogOutput returns the handler of w at level in format ("text" or
// "json").
func newLogOutput(w io.Writer, level slog.Level, format string) *logOutput {
	o := &logOutput{w: w}
	o.set(level, format)
	return o
}

// set changes the level and the format of every logger made from o.
func (o *logOutput) set(level slog.Level, format string) {
	o.level.Set(level)
	opts := &slog.HandlerOptions{Level: &o.level}
	var h slog.Handler = slog.NewTextHandler(o.w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(o.w, opts)
	}
	o.inner.Store(&h)
}

// handler is the slog.Handler of o.
func (o *logOutput) handler() slog.Handler { return &switchHandler{out: o} }

// switchHandler hands each record to the current handler of out, with the
// attributes and groups added to it replayed in order.
type switchHandler struct {
	out  *logOutput
	with []func(slog.Handler) slog.Handler
}

func (s *switchHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= s.out.level.Level()
}

func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	h := *s.out.inner.Load()
	for _, f := range s.with {
		h = f(h)
	}
	return h.Handle(ctx, r)
}

func (s *switchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return s.and(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (s *switchHandler) WithGroup(name string) slog.Handler {
	return s.and(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (s *switchHandler) and(f func(slog.Handler) slog.Handler) slog.Handler {
	with := append(s.with[:len(s.with):len(s.with)], f)
	return &switchHandler{out: s.out, with: with}
}
