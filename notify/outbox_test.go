package notify

import (
	"path/filepath"
	"testing"
	"time"
)

func TestTheOutboxTakesAnEventItHoldsOrSentLatelyOnceAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	now := time.Now()
	box, _, err := openOutbox(path, now)
	if err != nil {
		t.Fatal(err)
	}
	a := Event{ID: "block-192.0.2.1/32-1", Kind: KindBlock, Prefix: "192.0.2.1/32", Time: now}
	b := Event{ID: "block-192.0.2.2/32-1", Kind: KindBlock, Prefix: "192.0.2.2/32", Time: now}
	if dropped, err := box.append(now, a, a); err != nil || dropped != 1 {
		t.Fatalf("append(a, a) dropped %d, %v; want the second a dropped", dropped, err)
	}
	if err := box.remove(1); err != nil { // a delivered
		t.Fatal(err)
	}
	if dropped, err := box.append(now, b); err != nil || dropped != 0 {
		t.Fatalf("append(b) dropped %d, %v; want b queued", dropped, err)
	}

	// The restart: a was sent, b is queued; both found again are dropped.
	box, _, err = openOutbox(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if box.len() != 1 {
		t.Fatalf("outbox depth after the restart = %d, want 1 (b)", box.len())
	}
	if dropped, err := box.append(now, a, b); err != nil || dropped != 2 {
		t.Fatalf("append(a, b) after the restart dropped %d, %v; want both (a sent, b queued)", dropped, err)
	}
	if recs, _, err := readOutbox(path); err != nil || len(recs) != 1 || recs[0].ID != b.ID {
		t.Fatalf("queued records = %+v, %v; want only b (sent markers are not queued events)", recs, err)
	}
}

func TestTheOutboxRemembersABoundedNumberOfSentEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	now := time.Now()
	box, _, err := openOutbox(path, now)
	if err != nil {
		t.Fatal(err)
	}
	for range sentKept + 10 {
		if _, err := box.append(now, Event{ID: NewID(), Kind: KindBlock, Time: now}); err != nil {
			t.Fatal(err)
		}
		if err := box.remove(1); err != nil {
			t.Fatal(err)
		}
	}
	if box, _, err = openOutbox(path, now); err != nil || len(box.sent) != sentKept || box.len() != 0 {
		t.Fatalf("after the restart: %d sent remembered, %d queued, %v; want %d and 0", len(box.sent), box.len(), err, sentKept)
	}
}
