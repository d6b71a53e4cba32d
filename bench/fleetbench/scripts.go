package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/recidivist/recidivist/fleet"
)

// clients runs op n times on each of c clients at once and prints the
// throughput and the latency distribution of one call.
func (b *bench) clients(ctx context.Context, what, fleetName string, c, n int, op func(ctx context.Context, f fleet.Fleet, client, i int) error) error {
	fs := make([]*fleet.Redis, c)
	for i := range fs {
		f, err := b.dial(fleetName, fmt.Sprintf("h%d", i))
		if err != nil {
			return err
		}
		defer f.Close()
		fs[i] = f
	}
	lats := make([][]time.Duration, c)
	errs := make([]error, c)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			for i := range n {
				t := time.Now()
				if err := op(ctx, fs[k], k, i); err != nil {
					errs[k] = err
					return
				}
				lat = append(lat, time.Since(t))
			}
			lats[k] = lat
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for k := range c {
		if errs[k] != nil {
			return fmt.Errorf("%s: %w", what, errs[k])
		}
		all = append(all, lats[k]...)
	}
	fmt.Printf("%-34s %d clients  %8d ops  %9s  %s\n", what, c, len(all), rate(len(all), took), summarize(all))
	return nil
}

// banEvent pushes countable bans of random addresses (a few become
// offenders, as in life) through the decision script.
func (b *bench) banEvent(ctx context.Context, c, n int) error {
	name := fmt.Sprintf("be%d", c)
	f, err := b.dial(name, "init")
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Init(ctx, fleet.Rule{Threshold: 3, Window: time.Hour}, true); err != nil {
		return err
	}
	base := time.Now().Add(-30 * time.Minute)
	rngs := make([]*rand.Rand, c)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 42))
	}
	return b.clients(ctx, "ban_event (fleet-wide counting)", name, c, n, func(ctx context.Context, f fleet.Fleet, k, i int) error {
		x := rngs[k].IntN(200_000)
		e := fleet.Event{Addr: netip.AddrFrom4([4]byte{10, byte(x >> 16), byte(x >> 8), byte(x)}), Time: base.Add(time.Duration(i) * time.Millisecond), Jail: "sshd", Seq: uint64(i + 1)}
		_, err := f.PushEvent(ctx, e, 0)
		return err
	})
}

// blPut offers block records of distinct addresses (each one accepted: a
// change entry per call).
func (b *bench) blPut(ctx context.Context, c, n int) error {
	now := time.Now()
	return b.clients(ctx, "bl_put (last-writer-wins record)", fmt.Sprintf("bp%d", c), c, n, func(ctx context.Context, f fleet.Fleet, k, i int) error {
		_, err := f.PutRecord(ctx, block(k*n+i, now), 0, 0)
		return err
	})
}

// block is a record of the i-th address of 10.0.0.0/8 (or beyond, in
// 11.0.0.0/8), blocked at v.
func block(i int, v time.Time) fleet.Record {
	a := netip.AddrFrom4([4]byte{byte(10 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
	return fleet.Record{Prefix: netip.PrefixFrom(a, 32), State: fleet.Block, Version: v, Host: "bench", Jails: []string{"sshd"}, Bans: 3, Origin: "fleet"}
}
