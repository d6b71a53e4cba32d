package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// FleetLink is what operators see of the daemon's link to the fleet: each
// side's fleet.Status and what this host did with the records it read. The
// daemon writes it to STATE-DIR/fleet-status every fleetStatusEvery while
// a side runs (and when it stops), for `status` and `fleet status`; the
// metrics read it live.
type FleetLink struct {
	Saved  time.Time     `json:"saved"`
	Writer *fleet.Status `json:"writer,omitempty"` // nil: this host does not push
	Reader *fleet.Status `json:"reader,omitempty"` // nil: this host does not read
	// Records counts the fleet's records by what this host did with
	// them: blocked, unbanned, refused (refusal policy), not_accepted
	// (fleet-accept).
	Records map[string]uint64 `json:"records"`
}

// StatusSource is a side of the link that reports its status: a
// fleet.Writer or fleet.Reader.
type StatusSource interface{ Status() fleet.Status }

// fleetLink is the daemon's part of FleetLink.
type fleetLink struct {
	mu      sync.Mutex // guards the fields below
	writer  StatusSource
	records map[string]uint64
}

// fleetStatusEvery is how often the daemon saves FleetLink.
const fleetStatusEvery = 5 * time.Second

// SetFleetWriter registers the writer that pushes this host's outbox, so
// that FleetLink (status, fleet status, metrics) shows it. The code that
// starts the writer calls it before Run.
func (d *Daemon) SetFleetWriter(w StatusSource) {
	d.link.mu.Lock()
	defer d.link.mu.Unlock()
	d.link.writer = w
}

// FleetLink returns the link as it is now (ok false when neither side
// runs).
func (d *Daemon) FleetLink() (FleetLink, bool) {
	l := FleetLink{Saved: time.Now().UTC()}
	if s, ok := d.FleetReaderStatus(); ok {
		l.Reader = &s
	}
	d.link.mu.Lock()
	w := d.link.writer
	l.Records = maps.Clone(d.link.records)
	d.link.mu.Unlock()
	if w != nil {
		s := w.Status()
		l.Writer = &s
	}
	if l.Records == nil {
		l.Records = map[string]uint64{}
	}
	return l, l.Writer != nil || l.Reader != nil
}

// fleetRecord counts one record from the fleet by what this host did with
// it, in the metrics and in FleetLink.
func (d *Daemon) fleetRecord(result string) {
	d.metrics.fleetRecords.WithLabelValues(result).Inc()
	d.link.mu.Lock()
	defer d.link.mu.Unlock()
	if d.link.records == nil {
		d.link.records = map[string]uint64{}
	}
	d.link.records[result]++
}

// fleetStatusLoop saves FleetLink while a side of the link runs, and once
// more when ctx ends; without fleet-redis it removes the link an earlier
// run saved. A failed save costs status its news only.
func (d *Daemon) fleetStatusLoop(ctx context.Context) error {
	d.mu.Lock()
	path, on := statedir.FleetStatus(d.cfg.StateDir), d.cfg.Fleet.On()
	d.mu.Unlock()
	if !on && !d.dryRun {
		// a link saved while fleet-redis was set is not this run's
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("fleet: removing the link status of an earlier run", "file", path, "err", err)
		}
	}
	t := time.NewTicker(fleetStatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.saveFleetLink(path)
			return nil
		case <-t.C:
			d.saveFleetLink(path)
		}
	}
}

func (d *Daemon) saveFleetLink(path string) {
	l, ok := d.FleetLink()
	if !ok || d.dryRun {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		err = atomicfile.WriteFile(path, append(b, '\n'), 0o600)
	}
	if err != nil {
		d.log.Warn("fleet: saving the link's status for recidivist status", "file", path, "err", err)
	}
}

// ReadFleetLink reads the link's status the daemon saved in stateDir;
// ok false when it saved none (no fleet, or never run with one).
func ReadFleetLink(stateDir string) (l FleetLink, ok bool, err error) {
	path := statedir.FleetStatus(stateDir)
	f, err := nofollow.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return FleetLink{}, false, nil
		}
		return FleetLink{}, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return FleetLink{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return FleetLink{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return l, true, nil
}

// fleetCollector exposes FleetLink at scrape time.
type fleetCollector struct {
	d                                                     *Daemon
	connected, since, backlog, pushed                     *prometheus.Desc
	rewinds, rePushed, snapshots, applied, lastChangeDesc *prometheus.Desc
}

// FleetCollector returns a collector of the fleet link: each side's
// connection and its age, the writer's backlog, position, rewinds and
// records pushed again, the reader's snapshots, records applied and the
// time of its last change. Nothing is exposed for a side that does not run.
func (d *Daemon) FleetCollector() prometheus.Collector {
	side := []string{"side"}
	return &fleetCollector{
		d:              d,
		connected:      prometheus.NewDesc("recidivist_fleet_connected", "1 while this side of the link to the fleet's Redis (writer, reader) is connected, 0 while it is not.", side, nil),
		since:          prometheus.NewDesc("recidivist_fleet_connected_change_timestamp_seconds", "When this side of the fleet link last connected or disconnected.", side, nil),
		backlog:        prometheus.NewDesc("recidivist_fleet_backlog", "Outbox items (bans, blocks, unbans) not yet pushed to the fleet.", nil, nil),
		pushed:         prometheus.NewDesc("recidivist_fleet_pushed", "Outbox position the fleet has acknowledged.", nil, nil),
		rewinds:        prometheus.NewDesc("recidivist_fleet_rewinds_total", "Times the fleet's Redis had lost this host's writes and the outbox was pushed again.", nil, nil),
		rePushed:       prometheus.NewDesc("recidivist_fleet_repushed_records_total", "Mirror records pushed again after the fleet's Redis lost writes.", nil, nil),
		snapshots:      prometheus.NewDesc("recidivist_fleet_snapshots_total", "Full snapshots of the fleet's blocklist taken by the reader.", nil, nil),
		applied:        prometheus.NewDesc("recidivist_fleet_changes_read_total", "Fleet records the reader handed to the daemon (see recidivist_fleet_records_total for what it did).", nil, nil),
		lastChangeDesc: prometheus.NewDesc("recidivist_fleet_last_change_timestamp_seconds", "When the reader last applied fleet changes or a snapshot.", nil, nil),
	}
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.since, c.backlog, c.pushed, c.rewinds, c.rePushed, c.snapshots, c.applied, c.lastChangeDesc} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	l, ok := c.d.FleetLink()
	if !ok {
		return
	}
	side := func(name string, s *fleet.Status) {
		up := 0.0
		if s.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, up, name)
		if !s.Since.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.since, prometheus.GaugeValue, seconds(s.Since), name)
		}
	}
	if w := l.Writer; w != nil {
		side("writer", w)
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(w.Backlog))
		ch <- prometheus.MustNewConstMetric(c.pushed, prometheus.GaugeValue, float64(w.Pushed))
		ch <- prometheus.MustNewConstMetric(c.rewinds, prometheus.CounterValue, float64(w.Rewinds))
		ch <- prometheus.MustNewConstMetric(c.rePushed, prometheus.CounterValue, float64(w.RePushed))
	}
	if r := l.Reader; r != nil {
		side("reader", r)
		ch <- prometheus.MustNewConstMetric(c.snapshots, prometheus.CounterValue, float64(r.Snapshots))
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, float64(r.Applied))
		if !r.LastChange.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastChangeDesc, prometheus.GaugeValue, seconds(r.LastChange))
		}
	}
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
