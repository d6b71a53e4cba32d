package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// waitFor polls cond until it holds, failing after a generous deadline
// (the machine running the tests may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs a notifier of cfg until the test ends (or stop is called).
func start(t *testing.T, cfg Config) (n *Notifier, stop func()) {
	t.Helper()
	n, cancel, done := launch(t, cfg)
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return n, stop
}

// launch runs a notifier of cfg (with quick test defaults) until cancel;
// done closes when it has returned.
func launch(t *testing.T, cfg Config) (n *Notifier, cancel context.CancelFunc, done <-chan struct{}) {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.GroupMax == 0 {
		cfg.GroupMax = 50
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = time.Hour
	}
	if cfg.FirstRetry == 0 {
		cfg.FirstRetry = 10 * time.Millisecond
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		n.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-ended })
	return n, cancel, ended
}

// recordingHook writes a hook that saves each call's stdin and
// RECIDIVIST_* environment in dir, and returns its path.
func recordingHook(t *testing.T, dir string) string {
	t.Helper()
	hook := filepath.Join(t.TempDir(), "hook")
	script := fmt.Sprintf("#!/bin/sh\nn=$(ls %[1]s | grep -c stdin)\nenv | grep ^RECIDIVIST_ | sort > %[1]s/env-$n\ncat > %[1]s/stdin-$n.tmp && mv %[1]s/stdin-$n.tmp %[1]s/stdin-$n\n", dir)
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return hook
}

// calls reads the batches the recording hook got, in order.
func calls(t *testing.T, dir string) [][]Event {
	t.Helper()
	var out [][]Event
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("stdin-%d", i)))
		if os.IsNotExist(err) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var evs []Event
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Fatalf("call %d: stdin is not a JSON array of events: %v: %q", i, err, b)
		}
		out = append(out, evs)
	}
}

func block(prefix string) Event {
	return Event{Kind: KindBlock, Reason: ReasonAuto, Prefix: prefix, Jails: []string{"sshd"}, Bans: 3, Time: time.Now().UTC()}
}

func TestThreeBlocksWithinGroupWaitGoToTheHookAsOneCall(t *testing.T) {
	dir := t.TempDir()
	n, _ := start(t, Config{Exec: []string{recordingHook(t, dir)}, GroupWait: time.Second})
	n.Enqueue(block("192.0.2.1/32"))
	n.Enqueue(block("192.0.2.2/32"), block("192.0.2.3/32"))
	waitFor(t, "one call of the hook", func() bool { return len(calls(t, dir)) == 1 })
	time.Sleep(1500 * time.Millisecond) // more than group-wait: no second call follows
	got := calls(t, dir)
	if len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("hook calls = %v, want one call with the 3 events", got)
	}
	var prefixes []string
	for _, e := range got[0] {
		prefixes = append(prefixes, e.Prefix)
	}
	if want := []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"}; !slices.Equal(prefixes, want) {
		t.Errorf("prefixes = %v, want %v", prefixes, want)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env-0"))
	if !strings.Contains(string(env), "RECIDIVIST_EVENTS=3") || strings.Contains(string(env), "RECIDIVIST_PREFIX") {
		t.Errorf("env of a 3-event call = %q, want RECIDIVIST_EVENTS=3 and no single-event fields", env)
	}
	if d := value(n.m.depth); d != 0 {
		t.Errorf("outbox depth after delivery = %v, want 0", d)
	}
}

func TestOneEventGivesTheHookItsFieldsInTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	n, _ := start(t, Config{Exec: []string{recordingHook(t, dir)}})
	n.Enqueue(Event{Kind: KindUnblock, Reason: ReasonUnban, Prefix: "2001:db8::1/128", Time: time.Now()})
	waitFor(t, "the hook's call", func() bool { return len(calls(t, dir)) == 1 })
	env, _ := os.ReadFile(filepath.Join(dir, "env-0"))
	for _, want := range []string{"RECIDIVIST_EVENT=unblock", "RECIDIVIST_REASON=unban", "RECIDIVIST_PREFIX=2001:db8::1/128", "RECIDIVIST_EVENTS=1"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook env lacks %s:\n%s", want, env)
		}
	}
}

func TestAJailNameWithShellSyntaxReachesTheHookAsPlainText(t *testing.T) {
	dir := t.TempDir()
	n, _ := start(t, Config{Exec: []string{recordingHook(t, dir), "$(touch " + dir + "/pwned)"}})
	ev := block("192.0.2.9/32")
	ev.Jails = []string{"sshd;touch " + dir + "/pwned2", "`id`"}
	n.Enqueue(ev)
	waitFor(t, "the hook's call", func() bool { return len(calls(t, dir)) == 1 })
	if got := calls(t, dir)[0][0].Jails; !slices.Equal(got, ev.Jails) {
		t.Errorf("jails = %q, want %q", got, ev.Jails)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: an argument or a jail name was run by a shell", f)
		}
	}
}

// flakyServer answers fail times with status, then 200; it records each
// request's Idempotency-Key and body.
type flakyServer struct {
	mu     sync.Mutex
	fail   int
	status int
	after  string // Retry-After of the failures
	keys   []string
	bodies []string
	ok     int
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	s.bodies = append(s.bodies, string(b))
	if s.fail > 0 {
		s.fail--
		if s.after != "" {
			w.Header().Set("Retry-After", s.after)
		}
		w.WriteHeader(s.status)
		return
	}
	s.ok++
}

func (s *flakyServer) counts() (requests, ok int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys), s.ok
}

func TestAWebhookThatFailsTwiceWith503IsDeliveredOnce(t *testing.T) {
	fs := &flakyServer{fail: 2, status: http.StatusServiceUnavailable, after: "1"}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer secret")
	n, _ := start(t, Config{URL: srv.URL, Format: FormatJSON, Headers: hdr})
	n.Enqueue(block("192.0.2.1/32"))
	waitFor(t, "the accepted delivery", func() bool { _, ok := fs.counts(); return ok == 1 })
	waitFor(t, "the outbox to empty", func() bool { return value(n.m.depth) == 0 })
	time.Sleep(200 * time.Millisecond)
	req, ok := fs.counts()
	if req != 3 || ok != 1 {
		t.Fatalf("requests = %d, accepted = %d; want 3 and 1", req, ok)
	}
	if fs.keys[0] == "" || fs.keys[0] != fs.keys[1] || fs.keys[1] != fs.keys[2] {
		t.Errorf("Idempotency-Keys = %q, want one non-empty key for every attempt", fs.keys)
	}
	if got := value(n.m.sent.WithLabelValues("notify-url")); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if got := value(n.m.retried.WithLabelValues("notify-url")); got != 2 {
		t.Errorf("retried = %v, want 2", got)
	}
}

func TestAWebhookAnswering400IsNotRetried(t *testing.T) {
	fs := &flakyServer{fail: 100, status: http.StatusBadRequest}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	dir := t.TempDir()
	n, _ := start(t, Config{URL: srv.URL, StateDir: dir})
	n.Enqueue(block("192.0.2.1/32"))
	waitFor(t, "the failure to be counted", func() bool { return value(n.m.failed.WithLabelValues("notify-url")) == 1 })
	time.Sleep(200 * time.Millisecond)
	if req, _ := fs.counts(); req != 1 {
		t.Errorf("requests = %d, want 1 (a 400 is not retried)", req)
	}
	st, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.LastError, "400") || st.Outbox != 0 {
		t.Errorf("status = %+v, want the 400 as last error and an empty outbox", st)
	}
}

func TestRetriesStopAfterRetryFor(t *testing.T) {
	fs := &flakyServer{fail: 1 << 30, status: http.StatusBadGateway}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	n, _ := start(t, Config{URL: srv.URL, RetryFor: time.Second, FirstRetry: 100 * time.Millisecond})
	n.Enqueue(block("192.0.2.1/32"))
	waitFor(t, "the give-up", func() bool { return value(n.m.failed.WithLabelValues("notify-url")) == 1 })
	waitFor(t, "the outbox to empty", func() bool { return value(n.m.depth) == 0 })
	if req, _ := fs.counts(); req < 2 {
		t.Errorf("requests = %d, want the 502 retried before giving up", req)
	}
}

func TestEventsInTheOutboxAreDeliveredAfterARestart(t *testing.T) {
	down := &flakyServer{fail: 1 << 30, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(down)
	dir := t.TempDir()
	n, stop := start(t, Config{URL: srv.URL, StateDir: dir})
	n.Enqueue(block("192.0.2.1/32"), block("192.0.2.2/32"))
	waitFor(t, "a failed attempt", func() bool { r, _ := down.counts(); return r >= 1 })
	stop() // the daemon stops (or is killed) with the events undelivered
	srv.Close()
	evs, _, err := readOutbox(OutboxPath(dir))
	if err != nil || len(evs) != 2 {
		t.Fatalf("outbox after stop = %v, %v; want the 2 events", evs, err)
	}

	up := &flakyServer{}
	srv2 := httptest.NewServer(up)
	defer srv2.Close()
	n2, _ := start(t, Config{URL: srv2.URL, StateDir: dir})
	waitFor(t, "delivery after the restart", func() bool { _, ok := up.counts(); return ok == 1 })
	waitFor(t, "the outbox to empty", func() bool { return value(n2.m.depth) == 0 })
	var got []Event
	if err := json.Unmarshal([]byte(up.bodies[0]), &got); err != nil || len(got) != 2 {
		t.Fatalf("body = %q (%v), want the 2 events", up.bodies[0], err)
	}
	if evs, _, _ := readOutbox(OutboxPath(dir)); len(evs) != 0 {
		t.Errorf("outbox after an acknowledged send = %v, want empty (nothing sent twice)", evs)
	}
}

func TestBlocksDecidedWhileCatchingUpGoOutAsOneSummary(t *testing.T) {
	dir := t.TempDir()
	n, _ := start(t, Config{Exec: []string{recordingHook(t, dir)}, GroupMax: 2})
	var evs []Event
	for i := range 5 {
		e := block(fmt.Sprintf("192.0.2.%d/32", i+1))
		e.CatchUp = true
		evs = append(evs, e)
	}
	n.Enqueue(evs...)
	waitFor(t, "the summary", func() bool { return len(calls(t, dir)) == 1 })
	time.Sleep(300 * time.Millisecond)
	got := calls(t, dir)
	if len(got) != 1 || len(got[0]) != 1 || got[0][0].Kind != KindSummary || got[0][0].Count != 5 {
		t.Fatalf("calls = %+v, want one summary of 5 blocks", got)
	}
}

func TestTheExcessOverNotifyRateIsFoldedIntoADigest(t *testing.T) {
	fs := &flakyServer{}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	n, _ := start(t, Config{URL: srv.URL, Format: FormatJSON, GroupMax: 2, Rate: rate.Every(2 * time.Second), Burst: 1})
	n.Enqueue(block("192.0.2.1/32"))
	waitFor(t, "the first notification", func() bool { _, ok := fs.counts(); return ok == 1 })
	var more []Event
	for i := range 5 {
		more = append(more, block(fmt.Sprintf("198.51.100.%d/32", i+1)))
	}
	n.Enqueue(more...)
	waitFor(t, "the digest", func() bool { _, ok := fs.counts(); return ok == 2 })
	var got []Event
	if err := json.Unmarshal([]byte(fs.bodies[1]), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != KindDigest || got[0].Count != 5 || len(got[0].Prefixes) != 5 {
		t.Fatalf("second notification = %+v, want one digest of the 5 held-back blocks", got)
	}
	if s := value(n.m.suppressed); s != 5 {
		t.Errorf("suppressed = %v, want 5", s)
	}
}

func TestSlackAndTextFormatsCarryTheEventAsText(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{FormatSlack, `{"text":"recidivist@h: block 192.0.2.1/32 (auto), jails sshd, 3 bans\n"}`},
		{FormatText, "recidivist@h: block 192.0.2.1/32 (auto), jails sshd, 3 bans\n"},
	} {
		w := &webhook{format: tc.format}
		e := block("192.0.2.1/32")
		e.Host = "h"
		b, _, err := w.body([]Event{e})
		if err != nil || string(b) != tc.want {
			t.Errorf("%s body = %q, %v; want %q", tc.format, b, err, tc.want)
		}
	}
}

func TestRetryAfterIsReadAsSecondsOrAnHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"soon", 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAHookThatHangsIsKilledAfterTheTimeout(t *testing.T) {
	hook := filepath.Join(t.TempDir(), "hang")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nsleep 300 &\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := newHook([]string{hook}, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = h.send(context.Background(), "k", []Event{block("192.0.2.1/32")})
	if retry, _ := retryable(err); !retry || !strings.Contains(fmt.Sprint(err), "notify-exec-timeout") {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("send took %v: the hook's process group was not killed", took)
	}
}

func TestEventsEnqueuedAsTheDaemonStopsAreKeptInTheOutbox(t *testing.T) {
	dir := t.TempDir()
	n, err := New(Config{StateDir: dir, URL: "http://192.0.2.1/never", GroupWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		n.Enqueue(block(fmt.Sprintf("192.0.2.%d/32", i+1)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopping already: the queue must still reach the outbox
	n.Run(ctx)
	evs, _, err := readOutbox(OutboxPath(dir))
	if err != nil || len(evs) != 20 {
		t.Fatalf("outbox = %d events, %v; want the 20 enqueued", len(evs), err)
	}
}

func TestASinkThatAcknowledgedIsNotSentTheBatchAgainAfterARestartWhileAnotherRetried(t *testing.T) {
	dir, calls0 := t.TempDir(), t.TempDir()
	hook := recordingHook(t, calls0)
	down := &flakyServer{fail: 1 << 30, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(down)
	defer srv.Close()
	n, stop := start(t, Config{StateDir: dir, Exec: []string{hook}, URL: srv.URL})
	n.Enqueue(block("192.0.2.1/32"), block("192.0.2.2/32"))
	waitFor(t, "the hook's call", func() bool { return len(calls(t, calls0)) == 1 })
	waitFor(t, "a second failure of the webhook (the hook's ack is recorded by then)", func() bool { r, _ := down.counts(); return r >= 2 })
	stop()

	up := &flakyServer{}
	srv2 := httptest.NewServer(up)
	defer srv2.Close()
	n2, _ := start(t, Config{StateDir: dir, Exec: []string{hook}, URL: srv2.URL})
	waitFor(t, "the webhook's delivery after the restart", func() bool { _, ok := up.counts(); return ok == 1 })
	waitFor(t, "the outbox to empty", func() bool { return value(n2.m.depth) == 0 })
	if got := calls(t, calls0); len(got) != 1 {
		t.Errorf("hook calls = %d, want 1: it acknowledged the batch before the restart", len(got))
	}
	if up.keys[0] != down.keys[0] {
		t.Errorf("Idempotency-Key after the restart = %q, before %q; want the same batch under the same key", up.keys[0], down.keys[0])
	}
	var got []Event
	if err := json.Unmarshal([]byte(up.bodies[0]), &got); err != nil || len(got) != 2 {
		t.Fatalf("webhook body = %q (%v), want the 2 events", up.bodies[0], err)
	}
}

func TestABatchCutShortByAStopGoesOutAgainAsItWasUnderTheSameKey(t *testing.T) {
	dir := t.TempDir()
	got, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fs := &flakyServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.ServeHTTP(w, r)
		first := false
		once.Do(func() { first = true; close(got) })
		if first { // the receiver has it; the daemon stops (beyond StopGrace) before it hears so
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	n, stop := start(t, Config{StateDir: dir, URL: srv.URL, StopGrace: 100 * time.Millisecond})
	n.Enqueue(block("192.0.2.1/32"), block("192.0.2.2/32"))
	<-got
	stop()

	// A new event joins the outbox before the old batch goes out again.
	n2, _ := start(t, Config{StateDir: dir, URL: srv.URL, GroupWait: 2 * time.Second})
	n2.Enqueue(block("192.0.2.3/32"))
	waitFor(t, "the outbox to empty", func() bool { r, _ := fs.counts(); return r >= 2 && value(n2.m.depth) == 0 })
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.keys) != 3 {
		t.Fatalf("requests %q %q, want 3: the batch, the batch again, the new block", fs.keys, fs.bodies)
	}
	if fs.keys[1] != fs.keys[0] || fs.bodies[1] != fs.bodies[0] {
		t.Errorf("second request %q %s, want the first again (%q %s)", fs.keys[1], fs.bodies[1], fs.keys[0], fs.bodies[0])
	}
	var evs []Event
	if err := json.Unmarshal([]byte(fs.bodies[2]), &evs); err != nil || len(evs) != 1 || evs[0].Prefix != "192.0.2.3/32" || fs.keys[2] == fs.keys[0] {
		t.Errorf("third request %q %s (%v), want the new block alone under a key of its own", fs.keys[2], fs.bodies[2], err)
	}
}

func TestAHookUnderWayWhenTheDaemonStopsMayFinishAndIsNotRunAgain(t *testing.T) {
	dir, rec := t.TempDir(), t.TempDir()
	// The hook says it started, then waits for the test's go-ahead, given
	// only once the notifier has been told to stop.
	hook := filepath.Join(t.TempDir(), "hook")
	script := fmt.Sprintf("#!/bin/sh\ntouch %[1]s/started\nwhile [ ! -e %[1]s/go ]; do sleep 0.05; done\nexec %[2]s\n", dir, recordingHook(t, rec))
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n, cancel, done := launch(t, Config{StateDir: dir, Exec: []string{hook}, StopGrace: time.Minute})
	n.Enqueue(block("192.0.2.1/32"))
	waitFor(t, "the hook to start", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	cancel() // the daemon stops while the hook runs
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := calls(t, rec); len(got) != 1 {
		t.Fatalf("hook calls = %d, want the one under way finished", len(got))
	}
	if evs, _, err := readOutbox(OutboxPath(dir)); err != nil || len(evs) != 0 {
		t.Fatalf("outbox after the stop = %+v, %v; want empty: the hook acknowledged the batch", evs, err)
	}
}

func TestAFailureAnsweredDuringTheStopIsTheLastErrorAndKeepsTheBatch(t *testing.T) {
	dir := t.TempDir()
	got, stopping := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(got) })
		<-stopping
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	n, cancel, done := launch(t, Config{StateDir: dir, URL: srv.URL, StopGrace: time.Minute})
	n.Enqueue(block("192.0.2.1/32"))
	<-got
	cancel()
	close(stopping)
	<-done
	st, err := ReadStatus(dir)
	if err != nil || !strings.Contains(st.LastError, "503") || st.Outbox != 1 {
		t.Fatalf("status after the stop = %+v, %v; want the 503 as last error and the event still in the outbox", st, err)
	}
}
