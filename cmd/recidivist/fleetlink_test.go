package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
	"github.com/recidivist/recidivist/statedir"
)

// savedLink writes a fleet link status into a new state dir, as the daemon
// saves it, and returns the dir.
func savedLink(t *testing.T) (string, daemon.FleetLink) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	l := daemon.FleetLink{
		Saved:   now,
		Writer:  &fleet.Status{Connected: false, Since: now.Add(-90 * time.Second), LastError: "dial tcp 10.0.0.5:6379: connect: connection refused", Pushed: 40, Backlog: 7, Rewinds: 2, RePushed: 9},
		Reader:  &fleet.Status{Connected: true, Since: now.Add(-time.Hour), Snapshots: 1, Applied: 12, Cursor: "1764661200000-0", LastChange: now.Add(-30 * time.Second)},
		Records: map[string]uint64{"blocked": 10, "unbanned": 1, "refused": 1},
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statedir.FleetStatus(dir), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, l
}

// fleetLinkLines are what status and fleet status must say of savedLink
// (ages left out: a loaded machine may take seconds between save and read).
var fleetLinkLines = []string{
	"fleet:    push DISCONNECTED since", " ago): dial tcp 10.0.0.5:6379: connect: connection refused",
	"outbox pushed to 40, backlog 7; 2 rewinds (Redis had lost writes), 9 mirror records re-pushed",
	"fleet:    read connected since", "last change 1764661200000-0 applied ", " ago; 12 records read, 1 snapshots",
	"10 blocked, 1 unbanned, 1 refused (ignore list or too wide), 0 not accepted (fleet-accept)",
	"(daemon not running; as saved",
}

func TestStatusShowsTheDaemonsFleetLinkInTextAndJSON(t *testing.T) {
	dir, l := savedLink(t)
	var out bytes.Buffer
	run(context.Background(), []string{"recidivist", "status", "--state-dir", dir}, &out, io.Discard)
	for _, want := range fleetLinkLines {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	run(context.Background(), []string{"recidivist", "status", "--json", "--state-dir", dir}, &out, io.Discard)
	var st struct {
		Fleet *daemon.FleetLink `json:"fleet"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	if st.Fleet == nil || st.Fleet.Writer == nil || *st.Fleet.Writer != *l.Writer || *st.Fleet.Reader != *l.Reader || st.Fleet.Records["refused"] != 1 {
		t.Fatalf("status --json fleet = %+v, want %+v", st.Fleet, l)
	}
	for _, key := range []string{`"backlog":7`, `"rewinds":2`, `"snapshots":1`, `"last_change":`, `"connected":false`, `"since":`, `"refused":1`} {
		if !strings.Contains(strings.ReplaceAll(out.String(), " ", ""), key) {
			t.Errorf("status --json lacks %s:\n%s", key, out.String())
		}
	}
}

func TestFleetStatusShowsRedisAndThisHostsLinkEvenWhenRedisIsDown(t *testing.T) {
	dir, _ := savedLink(t)
	srv := redistest.Start(t, redistest.Options{})
	code, out, errOut := invoke(t, append([]string{"fleet", "status", "--state-dir", dir}, fleetArgs(t, srv)...)...)
	if code != 0 || !strings.Contains(out, "connected, ping") {
		t.Fatalf("fleet status = %d\n%s%s", code, out, errOut)
	}
	for _, want := range fleetLinkLines {
		if !strings.Contains(out, want) {
			t.Errorf("fleet status lacks %q:\n%s", want, out)
		}
	}
	srv.Kill()
	code, out, errOut = invoke(t, append([]string{"fleet", "status", "--state-dir", dir}, fleetArgs(t, srv)...)...)
	if code != 1 || !strings.Contains(out, "disconnected") || !strings.Contains(out, "backlog 7") {
		t.Fatalf("fleet status with Redis down = %d, want 1 with the link still shown\n%s%s", code, out, errOut)
	}
}
