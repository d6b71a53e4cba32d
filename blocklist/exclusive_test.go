package blocklist_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

func TestExclusiveKeepsEveryOtherWriterOutUntilItReturns(t *testing.T) {
	f := mirrorIn(t, "192.0.2.1\n")
	mustLoad(t, f)
	other := blocklist.Open(f.Path()) // another writer: its own lock descriptor, as another process has
	otherDone := make(chan error, 1)
	err := f.Exclusive(func(tx *blocklist.Tx) error {
		if !tx.Unchanged() {
			t.Error("Unchanged is false for the version just read")
		}
		go func() {
			_, err := other.Add(blocklist.Entry{Prefix: pfx("192.0.2.3/32")})
			otherDone <- err
		}()
		if _, err := tx.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")}); err != nil {
			return err
		}
		if _, err := tx.Remove(netip.MustParsePrefix("192.0.2.1/32")); err != nil {
			return err
		}
		select {
		case err := <-otherDone:
			t.Errorf("another writer wrote inside Exclusive (err %v)", err)
		case <-time.After(200 * time.Millisecond):
		}
		if got := prefixes(mustLoad(t, f)); !slices.Equal(got, []string{"192.0.2.2/32"}) {
			t.Errorf("inside Exclusive the mirror holds %v, want the transaction's own changes only", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
	if got := prefixes(mustLoad(t, f)); !slices.Equal(got, []string{"192.0.2.2/32", "192.0.2.3/32"}) {
		t.Errorf("mirror %v, want both writers' entries", got)
	}
}

func TestTxUnchangedSeesAnotherWritersVersion(t *testing.T) {
	f := mirrorIn(t, "192.0.2.1\n")
	mustLoad(t, f)
	if _, err := blocklist.Open(f.Path()).Add(blocklist.Entry{Prefix: pfx("192.0.2.9/32")}); err != nil {
		t.Fatal(err)
	}
	err := f.Exclusive(func(tx *blocklist.Tx) error {
		if tx.Unchanged() {
			t.Error("Unchanged after another writer's change, want false")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnchangedHoldsForAMissingMirrorUntilOneAppears(t *testing.T) {
	f := mirrorIn(t, "")
	if got := mustLoad(t, f); len(got) != 0 {
		t.Fatalf("missing mirror loads %v", got)
	}
	if !f.Unchanged() {
		t.Error("Unchanged is false for a mirror read as missing and still missing; a daemon would think someone changed it")
	}
	if _, err := blocklist.Open(f.Path()).Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	if f.Unchanged() {
		t.Error("Unchanged is true after another writer created the mirror")
	}
}
