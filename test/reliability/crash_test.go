package reliability

import (
	"sync/atomic"
	"testing"
	"time"
)

// testCrash SIGKILLs `recidivist run` 20 times while a stream of Ban lines
// is written, restarting it after each kill, then compares the kernel sets
// and the mirror with the generator's count and with `recidivist scan`.
func testCrash(t *testing.T) {
	const (
		kills     = 20
		offenders = 2000
		near      = 2000
	)
	r := newRig(t, "crash", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	pop := newPopulation(1, offenders, near)
	evs := pop.events(1)
	r.start()
	r.ready()

	// About 700 lines/s: the stream lasts about 14s; a kill every 600ms
	// lands in its middle, whatever the daemon is doing then. On a loaded
	// machine where killing and restarting take longer, the stream waits
	// for the kills to keep pace, so that all 20 happen during it.
	batches := (len(evs) + 24) / 25
	var n atomic.Int32
	done := make(chan error, 1)
	began := time.Now()
	go func() {
		done <- stream(r.log, evs, 25, 700, func(k int) error {
			_, err := waitFor(60*time.Second, func() (bool, error) {
				return int(n.Load()) >= (k*kills+batches-1)/batches, nil // ceil: all 20 before the last batch
			})
			return err
		})
	}()
	var streamErr error
	streaming := true
	for streaming && n.Load() < kills {
		select {
		case streamErr = <-done:
			streaming = false
		case <-time.After(600 * time.Millisecond):
			r.d.kill(t)
			n.Add(1)
			r.start()
		}
	}
	if streaming {
		streamErr = <-done
	}
	if streamErr != nil {
		t.Fatal(streamErr)
	}
	took := time.Since(began)
	if n.Load() < kills {
		t.Errorf("the stream ended after %d kills, want %d during it", n.Load(), kills)
	}
	t.Logf("wrote %s lines in %v with %d SIGKILLs of the daemon", commas(len(evs)), took.Round(time.Millisecond), n.Load())

	want := pop.want()
	v, conv := r.converge(want, 90*time.Second)
	t.Logf("kernel and mirror after the stream (converged in %v): %v", conv.Round(time.Millisecond), v)
	r.alive()
	if !v.ok() {
		t.Errorf("after %d SIGKILLs: %v\ndaemon output:\n%s", n.Load(), v, r.d.tail(30))
	}
	scanned, diff := r.scanAgrees(want, r.log)
	if len(diff) > 0 {
		t.Errorf("scan of the same log disagrees with the generator:\n\t%s", first(diff, 10))
	}
	t.Logf("reliability: crash: %d kills, %s lines, %s offenders (scan: %s), %d missed, %d wrong, %d double",
		n.Load(), commas(len(evs)), commas(len(want)), commas(scanned), v.missed, v.wrong, v.double)
}
