package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
)

// metricsServer serves the daemon's metrics on metrics-listen, and moves
// to a new address when a reload changes it.
type metricsServer struct {
	handler http.Handler
	moves   chan move
}

// move is a request to serve on addr ("" is off); done gets the answer.
type move struct {
	addr string
	done chan error
}

func newMetricsServer(m *daemon.Metrics, d *daemon.Daemon, more ...prometheus.Collector) *metricsServer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.Collectors()...)
	reg.MustRegister(d.WatcherCollector(), d.FleetCollector())
	reg.MustRegister(more...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &metricsServer{handler: mux, moves: make(chan move)}
}

// listenMetrics listens on addr, or returns the config error that names
// metrics-listen. An empty addr is off: no listener, no error.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Key: "metrics-listen", Value: addr, Allowed: fmt.Sprintf("a free HOST:PORT to listen on (%v)", err)}
	}
	return ln, nil
}

// move makes run serve on addr from now on, and returns once it does, or
// the error that keeps it where it was (or ctx's).
func (s *metricsServer) move(ctx context.Context, addr string) error {
	m := move{addr: addr, done: make(chan error, 1)}
	select {
	case s.moves <- m:
		return <-m.done
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run serves on ln (nil: nothing yet) until ctx ends, then closes the
// server and returns once it stopped. A move listens on the new address
// first and keeps the old one if it cannot.
func (s *metricsServer) run(ctx context.Context, ln net.Listener) error {
	stop := s.serve(ln)
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case m := <-s.moves:
			next, err := listenMetrics(m.addr)
			if err != nil {
				m.done <- err // the old address stays in use
				continue
			}
			stop()
			if next == nil {
				slog.Info("metrics no longer served")
			}
			stop = s.serve(next)
			m.done <- nil
		}
	}
}

// serve serves s on ln in a goroutine (nothing if ln is nil); the stop it
// returns closes the server and the listener and waits for that goroutine.
func (s *metricsServer) serve(ln net.Listener) (stop func()) {
	if ln == nil {
		return func() {}
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server stopped", "err", err)
		}
	}()
	slog.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		srv.Close() //nolint:errcheck // shutting down; nothing left to report to
		<-done
	}
}
