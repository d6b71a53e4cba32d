package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// rsyncBaseline is what the fleet replaces: host A's blocklist file copied
// to host B by rsync from cron every interval. It times, for trials blocks
// written on A at random moments, when B's copy holds them.
func (b *bench) rsyncBaseline(ctx context.Context, interval time.Duration, trials int) error {
	if _, err := exec.LookPath("rsync"); err != nil {
		fmt.Println("cron+rsync baseline: skipped, rsync is not installed (apt-get install rsync)")
		return nil
	}
	dir, err := os.MkdirTemp("", "rcv-rsync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, bdir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, bdir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	src, dst := filepath.Join(a, "ip.blocklist"), filepath.Join(bdir, "ip.blocklist")
	if err := os.WriteFile(src, nil, 0o600); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var runs []time.Duration
	cron := make(chan []time.Duration, 1)
	go func() { // the cron job
		t := time.NewTicker(interval)
		defer t.Stop()
		var took []time.Duration
		for {
			select {
			case <-ctx.Done():
				cron <- took
				return
			case <-t.C:
				s := time.Now()
				_ = exec.Command("rsync", "-a", src, dst).Run() // a failed run is the next run's to repeat, as with cron
				took = append(took, time.Since(s))
			}
		}
	}()
	rng := rand.New(rand.NewPCG(3, 5))
	var lats []time.Duration
	for i := range trials {
		time.Sleep(time.Duration(rng.Int64N(int64(interval))))
		line := fmt.Sprintf("198.51.100.%d\n", i+1)
		f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(line)
		f.Close()
		if err != nil {
			return err
		}
		t := time.Now()
		for {
			got, _ := os.ReadFile(dst) // absent until the first run
			if strings.Contains(string(got), line) {
				break
			}
			if time.Since(t) > 3*interval+10*time.Second {
				return fmt.Errorf("rsync baseline: %s not on B after %v", strings.TrimSpace(line), time.Since(t))
			}
			time.Sleep(time.Millisecond)
		}
		lats = append(lats, time.Since(t))
	}
	cancel()
	runs = <-cron
	s := summarize(lats)
	fmt.Printf("%-34s every %v  %d blocks  %s  (one rsync run: %s)\n", "cron+rsync: block on A → B's file", interval, len(lats), s, summarize(runs))
	b.rsyncP50, b.rsyncRun, b.rsyncInterval = s.p50, summarize(runs).p50, interval
	return nil
}

// ratio sets the baseline at the usual 15-minute cron beside the fleet's
// delivery.
func (b *bench) ratio() {
	if b.rsyncInterval == 0 || b.deliveryP50 == 0 {
		return
	}
	// the wait for the next run is uniform over the interval: at the
	// usual 15-minute cron the median is half of it, plus the run
	const cron = 15 * time.Minute
	scaled := cron/2 + b.rsyncRun
	fmt.Printf("ratio: cron+rsync every 15 min reaches B in p50 ≈ %s, worst 15 min (here at %v: p50 %s); "+
		"the fleet delivers in p50 %s, p99 %s: %.0fx faster at the median\n",
		scaled.Round(time.Second), b.rsyncInterval, us(b.rsyncP50), us(b.deliveryP50), us(b.deliveryP99), float64(scaled)/float64(b.deliveryP50))
}
