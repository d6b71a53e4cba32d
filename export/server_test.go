package export

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerFailureIsCountedAndServingResumes(t *testing.T) {
	h, m := newTestHandler(fixed(sample()), Auth{})
	h.opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Listen(freeAddr(t), h)
	if err != nil {
		t.Fatal(err)
	}
	s.retry = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	url := "http://" + s.Addr().String() + "/blocklist"
	ok := func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor(t, "the export answers", ok)

	s.ln.Close() // the listener fails under the server
	waitFor(t, "the failure is counted", func() bool {
		var out dto.Metric
		if err := m.listenerErrors.Write(&out); err != nil {
			t.Fatal(err)
		}
		return out.GetCounter().GetValue() >= 1
	})
	waitFor(t, "the export answers again on the same address", ok)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil: the export never stops the daemon", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if ok() {
		t.Error("the export still answers after its context ended")
	}
}

func TestListenFailsOnAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h, _ := newTestHandler(fixed(nil), Auth{})
	if _, err := Listen(ln.Addr().String(), h); err == nil {
		t.Fatal("Listen on an address in use succeeded")
	}
}
