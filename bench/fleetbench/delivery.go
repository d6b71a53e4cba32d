package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// delivery times a change from the publisher's bl_put call to its decoding
// by each of readers blocked in Changes, as the daemon's reader tails.
func (b *bench) delivery(ctx context.Context, readers, changes int) error {
	name := fmt.Sprintf("dl%d", readers)
	var sent sync.Map // netip.Prefix → time.Time
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	ready := make(chan struct{}, readers)
	for k := range readers {
		f, err := b.dial(name, fmt.Sprintf("r%d", k))
		if err != nil {
			return err
		}
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursor := "0-0"
			ready <- struct{}{}
			for len(lats[k]) < changes {
				chg, err := f.Changes(ctx, cursor, 5*time.Second, 1000)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						errs[k] = err
					}
					return
				}
				now := time.Now()
				for _, c := range chg {
					if t, ok := sent.Load(c.Record.Prefix); ok {
						lats[k] = append(lats[k], now.Sub(t.(time.Time)))
					}
					cursor = c.ID
				}
			}
		}()
	}
	for range readers {
		<-ready
	}
	time.Sleep(200 * time.Millisecond) // every reader is blocked in its read
	pub, err := b.dial(name, "pub")
	if err != nil {
		return err
	}
	defer pub.Close()
	var publish []time.Duration
	for i := range changes {
		r := block(i, time.Now())
		t := time.Now()
		sent.Store(r.Prefix, t)
		if _, err := pub.PutRecord(ctx, r, 0, 0); err != nil {
			return fmt.Errorf("delivery: publishing: %w", err)
		}
		publish = append(publish, time.Since(t))
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
	}
	var all []time.Duration
	for k := range readers {
		if errs[k] != nil {
			return fmt.Errorf("delivery: reader %d: %w", k, errs[k])
		}
		all = append(all, lats[k]...)
	}
	s := summarize(all)
	fmt.Printf("%-34s %d readers  %8d deliveries (of %d)  %s\n", "delivery: bl_put → reader decoded", readers, len(all), readers*changes, s)
	fmt.Printf("%-34s %d readers  %8d calls  %s\n", "  publisher bl_put meanwhile", readers, len(publish), summarize(publish))
	if readers == 3 || b.deliveryP50 == 0 {
		b.deliveryP50, b.deliveryP99 = s.p50, s.p99
	}
	return nil
}

// catchUpAndSnapshots fills a fleet with small distinct blocks (8 clients:
// the re-push rate after a loss), reads small back from the stream's start
// (an offline host's catch-up), and takes snapshots of small and big
// records.
func (b *bench) catchUpAndSnapshots(ctx context.Context, small, big int) error {
	const name = "snap"
	fill := func(from, to int) error {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		v := time.Now()
		for k := range 8 {
			f, err := b.dial(name, fmt.Sprintf("fill%d", k))
			if err != nil {
				return err
			}
			defer f.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + k; i < to; i += 8 {
					if _, err := f.PutRecord(ctx, block(i, v), 0, 0); err != nil {
						errs[k] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("filling: %w", err)
		}
		fmt.Printf("%-34s 8 clients  %8d records  %9s\n", "fill (bl_put, as a re-push)", to-from, rate(to-from, time.Since(start)))
		return nil
	}
	if err := fill(0, small); err != nil {
		return err
	}
	f, err := b.dial(name, "reader")
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	cursor, n := "0-0", 0
	for n < small {
		chg, err := f.Changes(ctx, cursor, 0, 1000)
		if err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
		if len(chg) == 0 {
			break
		}
		n += len(chg)
		cursor = chg[len(chg)-1].ID
	}
	took := time.Since(start)
	fmt.Printf("%-34s 1 reader   %8d entries  %9s  (%s)\n", "catch-up: Changes COUNT 1000", n, rate(n, took), us(took))
	snapshot := func() error {
		start := time.Now()
		s, err := f.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		took := time.Since(start)
		fmt.Printf("%-34s 1 reader   %8d records  %9s  (%s)\n", "snapshot: HSCAN 1000 + decode", len(s.Records), rate(len(s.Records), took), us(took))
		return nil
	}
	if err := snapshot(); err != nil {
		return err
	}
	if big <= small {
		return nil
	}
	if err := fill(small, big); err != nil {
		return err
	}
	return snapshot()
}
