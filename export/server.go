package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is the export's HTTP server on one address.
type Server struct {
	handler *Handler
	addr    string
	ln      net.Listener
	log     *slog.Logger
	metrics *Metrics
	// retry is how long Serve waits before listening again after the
	// server failed.
	retry time.Duration
}

// Listen binds addr for h. It is called at start, so that an address that
// cannot be bound stops the daemon before it runs: an admin who configured
// an export learns at once that it does not work.
func Listen(addr string, h *Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("export: listening on %s: %w", addr, err)
	}
	return &Server{handler: h, addr: addr, ln: ln, log: h.opt.Logger, metrics: h.opt.Metrics, retry: 5 * time.Second}, nil
}

// Addr is the address the server listens on (the port chosen when addr
// said 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until ctx ends and always returns nil then: the
// export never stops blocking. When the server fails it is logged, counted
// and started again on the same address after a pause.
func (s *Server) Serve(ctx context.Context) error {
	ln := s.ln
	for {
		srv := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      2 * time.Minute, // a million entries to a slow router
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		stop := context.AfterFunc(ctx, func() { srv.Close() }) //nolint:errcheck // shutting down
		err := srv.Serve(ln)
		stop()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		s.metrics.listenerErrors.Inc()
		s.log.Error("export server failed; blocking goes on, listening again shortly", "addr", s.addr, "err", err, "retry_in", s.retry)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.retry):
			}
			if ln, err = net.Listen("tcp", s.addr); err == nil {
				break
			}
			s.metrics.listenerErrors.Inc()
			s.log.Error("export: cannot listen again", "addr", s.addr, "err", err)
		}
	}
}
