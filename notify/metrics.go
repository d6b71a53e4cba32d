package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the notifier's Prometheus metrics.
type Metrics struct {
	sent, failed, retried *prometheus.CounterVec
	suppressed, lost      prometheus.Counter
	depth                 prometheus.Gauge
}

// NewMetrics creates the notifier's metrics, not yet registered anywhere.
func NewMetrics() *Metrics {
	return &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_notify_sent_total", Help: "Notification batches delivered, by sink (notify-exec, notify-url).",
		}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_notify_failed_total", Help: "Notification batches given up on, by sink.",
		}, []string{"sink"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_notify_retried_total", Help: "Failed notification attempts that are retried, by sink.",
		}, []string{"sink"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_notify_suppressed_total", Help: "Events folded into a digest by notify-rate instead of being sent one by one.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_notify_lost_total", Help: "Events never notified: the queue was full or the outbox could not be written (logged).",
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recidivist_notify_outbox_depth", Help: "Events in the notification outbox, not yet delivered.",
		}),
	}
}

// Collectors lists the metrics for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.failed, m.retried, m.suppressed, m.lost, m.depth}
}
