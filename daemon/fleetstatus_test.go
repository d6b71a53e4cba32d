package daemon

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/statedir"
)

// fixedStatus is a writer as SetFleetWriter sees one.
type fixedStatus fleet.Status

func (s fixedStatus) Status() fleet.Status { return fleet.Status(s) }

func TestTheFleetLinkIsSavedForStatusAndExposedAsMetrics(t *testing.T) {
	h := fleetHarness(t, nil)
	if _, ok, err := ReadFleetLink(h.cfg.StateDir); ok || err != nil {
		t.Fatalf("a link status before any fleet side ran: ok %v, err %v", ok, err)
	}
	if _, ok := h.d.FleetLink(); ok {
		t.Fatal("FleetLink says a side runs before any does")
	}
	since := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	h.d.SetFleetWriter(fixedStatus{Connected: false, Since: since, LastError: "dial tcp: connection refused", Pushed: 40, Backlog: 7, Rewinds: 2, RePushed: 9})
	mem := fleet.NewMemory()
	now := h.clock.now()
	for _, r := range []fleet.Record{
		fleetRecord("203.0.113.30/32", fleet.Block, now.Add(-time.Minute), "b"),
		fleetRecord("192.0.2.30/32", fleet.Block, now.Add(-time.Minute), "evil"), // in the ignore list
	} {
		if _, err := mem.Host("b").PutRecord(context.Background(), r, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.RunFleetReader(ctx, mem.Host("a")) }()
	h.eventually("the snapshot is applied", func() bool { return h.inSet("203.0.113.30") })
	h.eventually("the reader reports its snapshot", func() bool {
		st, _ := h.d.FleetReaderStatus()
		return st.Snapshots == 1 && st.Connected
	})

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.d.FleetCollector())
	got := gather(t, reg)
	for series, v := range map[string]float64{
		"recidivist_fleet_backlog":                                           7,
		"recidivist_fleet_pushed":                                            40,
		`recidivist_fleet_connected{side="reader"}`:                          1,
		`recidivist_fleet_connected{side="writer"}`:                          0,
		"recidivist_fleet_changes_read_total":                                2,
		"recidivist_fleet_rewinds_total":                                     2,
		"recidivist_fleet_repushed_records_total":                            9,
		"recidivist_fleet_snapshots_total":                                   1,
		`recidivist_fleet_connected_change_timestamp_seconds{side="writer"}`: float64(since.Unix()),
	} {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (exposed %v), want %v", series, g, ok, v)
		}
	}
	for _, series := range []string{`recidivist_fleet_connected_change_timestamp_seconds{side="reader"}`, "recidivist_fleet_last_change_timestamp_seconds"} {
		if g := got[series]; g < float64(time.Now().Add(-time.Hour).Unix()) {
			t.Errorf("%s = %v, want the time of the reader's change", series, g)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.stop() // saves the link once more
	l, ok, err := ReadFleetLink(h.cfg.StateDir)
	if err != nil || !ok {
		t.Fatalf("no link status saved at stop: ok %v, err %v", ok, err)
	}
	if w := l.Writer; w == nil || w.Connected || !w.Since.Equal(since) || w.Backlog != 7 || w.Rewinds != 2 || w.LastError == "" {
		t.Errorf("saved writer %+v, want the writer's status", l.Writer)
	}
	if r := l.Reader; r == nil || r.Snapshots != 1 || r.Applied != 2 || r.Cursor == "" || r.LastChange.IsZero() {
		t.Errorf("saved reader %+v, want 1 snapshot of 2 records with its cursor", l.Reader)
	}
	if l.Records["blocked"] != 1 || l.Records["refused"] != 1 {
		t.Errorf("saved records %v, want 1 blocked and 1 refused", l.Records)
	}
}

// gather returns every series of reg as name{label="value",...} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"=\""+l.GetValue()+"\"")
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestADaemonWithoutAFleetRemovesTheLinkAnEarlierRunSaved(t *testing.T) {
	h := newHarness(t, nil)
	if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statedir.FleetStatus(h.cfg.StateDir), []byte(`{"reader":{"connected":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually("the stale link status is gone", func() bool {
		_, ok, err := ReadFleetLink(h.cfg.StateDir)
		return !ok && err == nil
	})
}
