package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recidivist/recidivist/notify"
)

// webhookPort is where the tests' webhook listens, on the loopback of the
// daemon's own namespace (nothing else runs there).
const webhookPort = 18790

// request is one POST the webhook got.
type request struct {
	key    string
	events []notify.Event
	status int
}

// webhook is a notify-url receiver inside a namespace. Until up is called
// nothing listens: the daemon's connections are refused.
type webhook struct {
	t      *testing.T
	ns     string
	mu     sync.Mutex
	reqs   []request
	before func() // called on each request before it is answered
	srv    *http.Server
}

func (w *webhook) url() string { return fmt.Sprintf("http://127.0.0.1:%d/hook", webhookPort) }

// up starts listening; t.Cleanup stops it.
func (w *webhook) up() {
	w.t.Helper()
	var ln net.Listener
	err := inNamespace(w.ns, func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort))
		return err
	})
	if err != nil {
		w.t.Fatalf("listening in %s: %v", w.ns, err)
	}
	w.srv = &http.Server{Handler: http.HandlerFunc(w.serve), ReadHeaderTimeout: 30 * time.Second}
	go w.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at cleanup
	w.t.Cleanup(func() { w.srv.Close() })
}

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var evs []notify.Event
	status := http.StatusOK
	if err := json.Unmarshal(b, &evs); err != nil {
		status = http.StatusBadRequest
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, request{key: r.Header.Get("Idempotency-Key"), events: evs, status: status})
	before := w.before
	w.mu.Unlock()
	if before != nil {
		before()
	}
	rw.WriteHeader(status)
}

// requests is a copy of what the webhook got so far.
func (w *webhook) requests() []request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.reqs)
}

// delivered is the set of prefixes of the events the webhook got.
func (w *webhook) delivered() map[string]bool {
	got := map[string]bool{}
	for _, r := range w.requests() {
		for _, e := range r.events {
			got[e.Prefix] = true
		}
	}
	return got
}

// outboxEvents reads the notification outbox of state (none: no events),
// without its sent markers (lines that only remember the id of an event
// gone from it).
func outboxEvents(state string) ([]notify.Event, error) {
	b, err := os.ReadFile(notify.OutboxPath(state))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var evs []notify.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var line struct {
			notify.Event
			Sent bool `json:"sent"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("outbox line %q: %w", sc.Text(), err)
		}
		if !line.Sent {
			evs = append(evs, line.Event)
		}
	}
	return evs, sc.Err()
}

// notifyRig is the built daemon in a namespace of its own with a webhook
// beside it: no packets, so no second namespace.
type notifyRig struct {
	t                *testing.T
	bin, ns          string
	conf, log, state string
	hook             *webhook
	d                *proc
	groupWait        string
}

func newNotifyRig(t *testing.T, tag, groupWait string) *notifyRig {
	t.Helper()
	ns := newNamespace(t, tag)
	dir := t.TempDir()
	r := &notifyRig{
		t: t, bin: binary(t), ns: ns,
		conf:      filepath.Join(dir, "recidivist.toml"),
		log:       filepath.Join(dir, "fail2ban.log"),
		state:     filepath.Join(dir, "state"),
		hook:      &webhook{t: t, ns: ns},
		groupWait: groupWait,
	}
	for _, f := range []string{r.conf, r.log} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// start runs the daemon and waits until its blocklist is in force.
func (r *notifyRig) start() {
	r.t.Helper()
	r.d = startIn(r.t, r.ns, r.bin, "run", "--config", r.conf, "--log", r.log, "--state-dir", r.state,
		"--set-name", "rcdvnotify", "--log-level", "debug", "--threshold", "3", "--window", "1w",
		"--notify-url", r.hook.url(), "--notify-group-wait", r.groupWait, "--notify-rate", "0")
	r.waitLog(1, "blocklist in force")
}

// waitLog waits until the daemon's output holds substr at least n times.
func (r *notifyRig) waitLog(n int, substr string) {
	r.t.Helper()
	eventually(r.t, time.Now(), 60*time.Second, fmt.Sprintf("%d× %q in the daemon's output", n, substr), r.d, func() (bool, error) {
		if r.d.exited() {
			return false, fmt.Errorf("exited early (%v)", r.d.err)
		}
		return strings.Count(r.d.out.String(), substr) >= n, nil
	})
}

// offend writes three bans for each of addrs.
func (r *notifyRig) offend(addrs ...string) {
	r.t.Helper()
	var lines []string
	now := time.Now()
	for _, a := range addrs {
		for _, jail := range []string{"sshd", "postfix-sasl", "sshd"} {
			lines = append(lines, banLine(now, jail, netip.MustParseAddr(a)))
		}
	}
	appendLines(r.t, r.log, lines...)
}

// waitOutbox waits until the outbox holds exactly n events and returns them.
func (r *notifyRig) waitOutbox(n int) []notify.Event {
	r.t.Helper()
	var evs []notify.Event
	eventually(r.t, time.Now(), 60*time.Second, fmt.Sprintf("%d events in the outbox", n), r.d, func() (bool, error) {
		var err error
		evs, err = outboxEvents(r.state)
		return len(evs) == n, err
	})
	return evs
}

// checkOncePerEvent fails t unless the accepted requests carry each of
// want's event ids exactly once, under distinct Idempotency-Keys.
func checkOncePerEvent(t *testing.T, reqs []request, want []notify.Event) {
	t.Helper()
	ids, keys := map[string]int{}, map[string]int{}
	for _, r := range reqs {
		if r.status != http.StatusOK {
			continue
		}
		keys[r.key]++
		for _, e := range r.events {
			ids[e.ID]++
		}
	}
	for k, n := range keys {
		if k == "" || n != 1 {
			t.Errorf("Idempotency-Key %q accepted %d times, want a non-empty key once", k, n)
		}
	}
	if len(ids) != len(want) {
		t.Errorf("delivered event ids %v, want exactly the %d of the outbox", ids, len(want))
	}
	for _, e := range want {
		if ids[e.ID] != 1 {
			t.Errorf("event %s (%s %s) delivered %d times, want once", e.ID, e.Kind, e.Prefix, ids[e.ID])
		}
	}
}

// TestNotify_events_in_the_outbox_of_a_killed_daemon_are_delivered_once_after_the_restart
// blocks three offenders while the webhook refuses connections, kills the
// daemon with SIGKILL, brings the webhook up and starts the daemon again:
// the three block events of the outbox arrive, each exactly once, and
// nothing else does.
func TestNotify_events_in_the_outbox_of_a_killed_daemon_are_delivered_once_after_the_restart(t *testing.T) {
	r := newNotifyRig(t, "nkill", "1s")
	r.start()
	offenders := []string{"192.0.2.31", "192.0.2.32", "2001:db8::33"}
	r.offend(offenders...)
	queued := r.waitOutbox(3)
	r.waitLog(1, "notification not delivered; retrying") // refused: it tried and keeps them
	r.d.kill(t)

	kept, err := outboxEvents(r.state)
	if err != nil || len(kept) != 3 {
		t.Fatalf("outbox after SIGKILL = %v, %v; want the 3 events", kept, err)
	}
	r.hook.up()
	r.start()
	eventually(t, time.Now(), 60*time.Second, "the 3 blocks delivered and the outbox empty", r.d, func() (bool, error) {
		got := r.hook.delivered()
		evs, err := outboxEvents(r.state)
		return len(got) == 3 && len(evs) == 0, err
	})
	r.d.term(t) // a clean stop: whatever it would still send, it has sent

	reqs := r.hook.requests()
	checkOncePerEvent(t, reqs, queued)
	var prefixes []string
	for _, req := range reqs {
		for _, e := range req.events {
			if e.Kind != notify.KindBlock || e.Reason != notify.ReasonAuto {
				t.Errorf("delivered %s/%s %s, want only the auto blocks", e.Kind, e.Reason, e.Prefix)
			}
			prefixes = append(prefixes, e.Prefix)
		}
	}
	slices.Sort(prefixes)
	want := []string{"192.0.2.31/32", "192.0.2.32/32", "2001:db8::33/128"}
	if !slices.Equal(prefixes, want) {
		t.Errorf("delivered prefixes %v, want %v", prefixes, want)
	}
}

// TestNotify_a_send_acknowledged_as_the_daemon_is_killed_is_sent_again_with_the_same_key
// kills the daemon while the webhook handles its first notification (the
// receiver has it; the daemon never hears so, and its outbox still holds
// it). After the restart, with a new offender blocked before the
// notification goes out again, the webhook gets the same batch again under
// the same Idempotency-Key (so a receiver that deduplicates by key sees it
// once), the new block separately, and nothing more.
func TestNotify_a_send_acknowledged_as_the_daemon_is_killed_is_sent_again_with_the_same_key(t *testing.T) {
	r := newNotifyRig(t, "nack", "5s")
	r.hook.up()
	killed := make(chan struct{})
	var once sync.Once
	r.hook.before = func() {
		once.Do(func() {
			d := r.d
			d.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // <-d.done says it is gone
			<-d.done
			close(killed)
		})
	}
	r.start()
	r.offend("198.51.100.41", "198.51.100.42")
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("no notification within 60s:\n%s", r.d.out)
	}
	first := r.hook.requests()
	if len(first) != 1 || len(first[0].events) != 2 {
		t.Fatalf("requests before the kill = %+v, want one with the 2 blocks", first)
	}
	if evs, err := outboxEvents(r.state); err != nil || len(evs) != 2 {
		t.Fatalf("outbox after the kill = %v, %v; want the 2 events not yet trimmed", evs, err)
	}

	// A new offender while the old batch waits out notify-group-wait.
	r.start()
	r.offend("198.51.100.43")
	eventually(t, time.Now(), 60*time.Second, "all 3 blocks delivered and the outbox empty", r.d, func() (bool, error) {
		got := r.hook.delivered()
		evs, err := outboxEvents(r.state)
		return len(got) == 3 && len(evs) == 0 && len(r.hook.requests()) >= 2, err
	})
	r.d.term(t)

	reqs := r.hook.requests()
	var again []request
	for _, req := range reqs[1:] {
		if req.key == first[0].key {
			again = append(again, req)
		}
	}
	if len(again) != 1 || !sameIDs(again[0].events, first[0].events) {
		t.Fatalf("after the restart: requests %+v; want the first batch (key %q, %d events) exactly once more, as it was",
			reqs[1:], first[0].key, len(first[0].events))
	}
	seen := map[string]string{}
	for _, req := range reqs {
		for _, e := range req.events {
			if k, ok := seen[e.ID]; ok && k != req.key {
				t.Errorf("event %s (%s) sent under key %q and again under %q, want one key per event", e.ID, e.Prefix, k, req.key)
			}
			seen[e.ID] = req.key
		}
	}
	if got := r.hook.delivered(); !got["198.51.100.43/32"] || len(got) != 3 {
		t.Errorf("delivered %v, want the 3 blocks", got)
	}
	if n := len(reqs); n != 3 {
		t.Errorf("%d requests, want 3 (the batch, the batch again, the new block): %+v", n, reqs)
	}
}

func sameIDs(a, b []notify.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}
