package export

import "github.com/prometheus/client_golang/prometheus"

// The results a request is counted under.
const (
	resultServed       = "served"
	resultNotModified  = "not_modified"
	resultUnauthorized = "unauthorized" // no token, or a wrong one
	resultForbidden    = "forbidden"    // not in export-allow
	resultBadRequest   = "bad_request"  // path, method or query
	resultError        = "error"        // the mirror could not be read: 503
)

// Metrics count what the export served and refused.
type Metrics struct {
	requests       *prometheus.CounterVec
	listenerErrors prometheus.Counter
}

// NewMetrics returns a fresh, unregistered set.
func NewMetrics() *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_export_requests_total",
			Help: "Export requests by result: served, not_modified, unauthorized, forbidden, bad_request, error (503).",
		}, []string{"result"}),
		listenerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_export_listener_errors_total",
			Help: "Times the export server stopped on an error; blocking goes on.",
		}),
	}
	for _, r := range []string{resultServed, resultNotModified, resultUnauthorized, resultForbidden, resultBadRequest, resultError} {
		m.requests.WithLabelValues(r) // every series exists from the start
	}
	return m
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.listenerErrors}
}

func (m *Metrics) count(result string) { m.requests.WithLabelValues(result).Inc() }
