package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// harness is one meeting point under test, seen by several hosts.
type harness struct {
	name   string
	host   func(name string) fleet.Fleet
	lose   func()      // forget everything, as a restart without persistence
	trimTo func(n int) // drop all but the newest n change entries
}

// harnesses returns the in-memory fake and a real redis-server, so that
// every conformance test holds both to the same behaviour.
func harnesses(t *testing.T) []harness {
	t.Helper()
	mem := fleet.NewMemory()
	hs := []harness{{
		name:   "memory",
		host:   mem.Host,
		lose:   mem.Lose,
		trimTo: mem.TrimTo,
	}}
	srv := redistest.Start(t, redistest.Options{})
	return append(hs, harness{
		name: "redis",
		host: func(name string) fleet.Fleet {
			c := srv.Client()
			t.Cleanup(func() { c.Close() })
			return fleet.NewRedis(c, "t", name)
		},
		lose: srv.Restart,
		trimTo: func(n int) {
			if _, err := srv.Do("XTRIM", "rcv:{t}:chg", "MAXLEN", n); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// each runs f on a fresh meeting point of every kind.
func each(t *testing.T, f func(t *testing.T, h harness)) {
	t.Helper()
	for _, h := range harnesses(t) {
		t.Run(h.name, func(t *testing.T) { f(t, h) })
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustInit(t *testing.T, f fleet.Fleet, r fleet.Rule) {
	t.Helper()
	if _, err := f.Init(ctxFor(t), r, true); err != nil {
		t.Fatalf("Init: %v", err)
	}
}
