package notify

import (
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/recidivist/recidivist/config"
)

// FromConfig is the notifier configuration of cfg's notify-* keys.
func FromConfig(cfg *config.Config, log *slog.Logger, m *Metrics) Config {
	n := cfg.Notify
	c := Config{
		StateDir:    cfg.StateDir,
		Exec:        n.Exec,
		ExecTimeout: n.ExecTimeout,
		ExecUser:    n.ExecUser,
		URL:         n.URL,
		Format:      n.Format,
		Headers:     http.Header{},
		RetryFor:    n.RetryFor,
		GroupWait:   n.GroupWait,
		GroupMax:    n.GroupMax,
		Logger:      log,
		Metrics:     m,
	}
	for _, h := range n.Headers {
		c.Headers.Add(h[0], h[1])
	}
	if n.RatePer > 0 {
		c.Rate = rate.Every(n.RatePer / time.Duration(n.RateCount))
		c.Burst = n.RateCount
	}
	return c
}
