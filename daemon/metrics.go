package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/ipsetstore"
)

// Metrics are the daemon's Prometheus metrics. The watcher's counters (bans by
// jail, lines skipped by reason) are read from the watcher at scrape time by
// a collector registered in Register.
type Metrics struct {
	blocked        prometheus.Counter
	repairs        prometheus.Counter
	repairsBy      *prometheus.CounterVec
	kernelErrors   prometheus.Counter
	mirrorEntries  prometheus.Gauge
	mirrorBadLines prometheus.Gauge
	setEntries     *prometheus.GaugeVec
	latency        prometheus.Histogram
	fleetRecords   *prometheus.CounterVec
	netEscalations prometheus.Counter
	blockedPackets *prometheus.CounterVec
	hitSamples     *prometheus.CounterVec
	idleBlocks     *prometheus.GaugeVec
	idleUnblocked  prometheus.Counter
}

// NewMetrics creates the daemon's metrics, not yet registered anywhere.
func NewMetrics() *Metrics {
	m := &Metrics{
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_offenders_blocked_total", Help: "Offenders added to the blocklist by the daemon.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_reconcile_repairs_total", Help: "Reconciles and repairs that had to change the kernel to match the mirror (recidivist_repairs_total has the repairs by cause).",
		}),
		repairsBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_repairs_total", Help: "Repairs of the kernel's sets and rules after someone else changed them, by cause: rule-missing, table-missing, set-missing, set-flushed, firewalld-reload, drift.",
		}, []string{"cause"}),
		kernelErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_kernel_errors_total", Help: "Failed changes of the kernel sets or rules (e.g. a full set).",
		}),
		mirrorEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recidivist_mirror_entries", Help: "Entries in the mirror file (the blocklist).",
		}),
		mirrorBadLines: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recidivist_mirror_bad_lines", Help: "Lines of the mirror file that could not be read and are skipped.",
		}),
		setEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recidivist_set_entries", Help: "Entries in each kernel ipset.",
		}, []string{"set"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "recidivist_block_latency_seconds",
			Help:    "Time from the deciding Ban line's timestamp to the address being in the kernel set, for lines logged while the daemon runs.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		fleetRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_fleet_records_total", Help: "Records from the fleet by what this host did with them: blocked, unbanned, refused (refusal policy), not_accepted (fleet-accept).",
		}, []string{"result"}),
		netEscalations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_net_escalations_total", Help: "Networks net escalation blocked as one range.",
		}),
		blockedPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_blocked_packets_total", Help: "Packets the blocks stopped, by family (inet, inet6), as the hit sampler read them from the per-entry counters.",
		}, []string{"family"}),
		hitSamples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recidivist_hit_samples_total", Help: "Samplings of the blocks' counters by result: ok, blind (a rule missing or the daemon just started: the interval ages nothing) or failed.",
		}, []string{"result"}),
		idleBlocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recidivist_idle_blocks", Help: "Blocks not hit for over 30 and over 90 days, at the last sample.",
		}, []string{"over"}),
		idleUnblocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "recidivist_idle_unblocked_total", Help: "Blocks removed by idle-unblock.",
		}),
	}
	for _, c := range repairCauses { // every cause shows, at 0 until it happens
		m.repairsBy.WithLabelValues(c)
	}
	return m
}

// Collectors lists the metrics for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.blocked, m.repairs, m.repairsBy, m.kernelErrors, m.mirrorEntries, m.mirrorBadLines, m.setEntries, m.latency, m.fleetRecords, m.netEscalations, m.blockedPackets, m.hitSamples, m.idleBlocks, m.idleUnblocked}
}

func (m *Metrics) observeMirror(es []blocklist.Entry) { m.mirrorEntries.Set(float64(len(es))) }

// observeIdle counts the entries of es idle over 30 and 90 days at now.
func (m *Metrics) observeIdle(book *hits.Book, es []blocklist.Entry, now time.Time) {
	over := hits.IdleOver(book, es, now, hits.IdleReported...)
	for i, d := range hits.IdleReported {
		m.idleBlocks.WithLabelValues(hits.DaysLabel(d)).Set(float64(over[i]))
	}
}

func (m *Metrics) observeStatus(st ipsetstore.Status) {
	for _, s := range st.Sets {
		m.setEntries.WithLabelValues(s.Name).Set(float64(s.Entries))
	}
}

// watcherCollector exposes the watcher's counters at scrape time, so the
// watcher needs no dependency on Prometheus.
type watcherCollector struct {
	d       *Daemon
	bans    *prometheus.Desc
	skipped *prometheus.Desc
	lines   *prometheus.Desc
	tracked *prometheus.Desc
	lastBan *prometheus.Desc
}

// WatcherCollector returns a collector of the watcher's counters: countable
// bans by jail, lines read, lines skipped by reason, tracked addresses and
// the time of the last ban line.
func (d *Daemon) WatcherCollector() prometheus.Collector {
	return &watcherCollector{
		d:       d,
		bans:    prometheus.NewDesc("recidivist_bans_total", "Countable Ban lines read from fail2ban's log, by jail.", []string{"jail"}, nil),
		skipped: prometheus.NewDesc("recidivist_lines_skipped_total", "Malformed log lines skipped, by reason.", []string{"reason"}, nil),
		lines:   prometheus.NewDesc("recidivist_lines_total", "Log lines read.", nil, nil),
		tracked: prometheus.NewDesc("recidivist_tracked_addresses", "Addresses with bans in the window that are not blocked.", nil, nil),
		lastBan: prometheus.NewDesc("recidivist_last_ban_timestamp_seconds", "Time written in the last countable Ban line.", nil, nil),
	}
}

func (c *watcherCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bans
	ch <- c.skipped
	ch <- c.lines
	ch <- c.tracked
	ch <- c.lastBan
}

func (c *watcherCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.watcher.Stats()
	for jail, n := range st.BansByJail {
		ch <- prometheus.MustNewConstMetric(c.bans, prometheus.CounterValue, float64(n), jail)
	}
	for reason, n := range st.Skipped {
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(n), reason.String())
	}
	ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(st.Lines))
	ch <- prometheus.MustNewConstMetric(c.tracked, prometheus.GaugeValue, float64(c.d.watcher.Tracked()))
	if !st.LastBan.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastBan, prometheus.GaugeValue, float64(st.LastBan.UnixNano())/1e9)
	}
}
