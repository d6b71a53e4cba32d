package watcher

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAddrTableAgreesWithAMap(t *testing.T) {
	// Random adds and removes over a small key space keep probe sequences
	// long and crowded, which is where backward-shift deletion can go wrong.
	rng := rand.New(rand.NewPCG(3, 4))
	a := newAddrTable[[4]byte](2)
	want := make(map[[4]byte]bool)
	for i := range 200_000 {
		k := [4]byte{0, 0, byte(rng.IntN(8)), byte(rng.IntN(256))}
		e, found := a.find(k)
		if found != want[k] {
			t.Fatalf("op %d: find(%v) = %v, want %v", i, k, found, want[k])
		}
		switch {
		case found && a.key(e) != k:
			t.Fatalf("op %d: find(%v) returned the entry of %v", i, k, a.key(e))
		case found && rng.IntN(2) == 0:
			a.remove(e)
			delete(want, k)
		case !found:
			a.record(a.add(k))[wordHead] = 1 << 32
			want[k] = true
		}
		if a.live != len(want) {
			t.Fatalf("op %d: live = %d, want %d", i, a.live, len(want))
		}
		if i%10_000 == 0 {
			a.compact()
		}
	}
}

func TestAddrTableReusesTheRecordsOfRemovedAddresses(t *testing.T) {
	a := newAddrTable[[4]byte](2)
	for i := range 100 {
		a.record(a.add([4]byte{10, 0, 0, byte(i)}))[wordHead] = 1 << 32
	}
	for i := range 50 {
		e, ok := a.find([4]byte{10, 0, 0, byte(i)})
		if !ok {
			t.Fatalf("10.0.0.%d not found", i)
		}
		a.remove(e)
	}
	used := a.used
	for i := range 50 {
		a.record(a.add([4]byte{10, 0, 1, byte(i)}))[wordHead] = 1 << 32
	}
	if a.used != used || a.live != 100 {
		t.Fatalf("after 50 removes and 50 adds: %d entries handed out (was %d), %d live; want the freed records reused", a.used, used, a.live)
	}
}

func TestAddrTableCompactsOnceMostOfItIsFree(t *testing.T) {
	a := newAddrTable[[4]byte](2)
	const n = 4 * chunkLen
	for i := range n {
		e := a.add([4]byte{10, 0, byte(i >> 8), byte(i)})
		rec := a.record(e)
		rec[wordHead] = 1<<32 | int64(i%3)
		rec[wordTimes], rec[wordTimes+1] = int64(i), int64(i+1)
	}
	slots := len(a.slots)
	for i := range n {
		if i%16 == 0 {
			continue
		}
		e, _ := a.find([4]byte{10, 0, byte(i >> 8), byte(i)})
		a.remove(e)
	}
	a.compact()
	if int(a.used) != a.live || len(a.slots) >= slots {
		t.Fatalf("after compact: %d entries for %d live, %d slots (was %d); want it rebuilt small", a.used, a.live, len(a.slots), slots)
	}
	for i := 0; i < n; i += 16 {
		e, ok := a.find([4]byte{10, 0, byte(i >> 8), byte(i)})
		if !ok {
			t.Fatalf("10.0.%d.%d lost by compact", i>>8, i&0xff)
		}
		if rec := a.record(e); rec[wordHead] != 1<<32|int64(i%3) || rec[wordTimes] != int64(i) || rec[wordTimes+1] != int64(i+1) {
			t.Fatalf("10.0.%d.%d: record %v after compact", i>>8, i&0xff, rec)
		}
	}
}

func TestAddrTableRebuiltKeepsTheNewestTimesAndExtraJails(t *testing.T) {
	a := newAddrTable[[16]byte](3)
	k := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	e := a.add(k)
	rec := a.record(e)
	rec[wordHead], rec[wordFirst] = 5<<32, 100
	copy(rec[wordTimes:], []int64{200, 300, 400})
	a.addJail(e, 40)
	a.addJail(e, 33)
	for _, tc := range []struct {
		times int
		want  []int64
	}{
		{1, []int64{400}},
		{3, []int64{200, 300, 400}},
		{5, []int64{noTime, noTime, 200, 300, 400}},
	} {
		b := a.rebuilt(tc.times)
		f, ok := b.find(k)
		if !ok {
			t.Fatalf("%d times: address lost", tc.times)
		}
		got := b.record(f)
		if got[wordHead] != 5<<32 || got[wordFirst] != 100 || !slices.Equal(got[wordTimes:], tc.want) {
			t.Errorf("%d times: record %v, want head 5<<32, first 100, times %v", tc.times, got, tc.want)
		}
		if x := b.extraJails[f]; !slices.Equal(x, []uint32{33, 40}) {
			t.Errorf("%d times: extra jails %v, want [33 40]", tc.times, x)
		}
	}
}
