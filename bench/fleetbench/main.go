// Command fleetbench measures the fleet's meeting point on a Redis the
// caller started (bench/fleet.sh starts a private one): the two scripts'
// throughput and latency with 1 and 8 clients, delivery of a change to 3
// and 50 blocked readers, catch-up from a cursor, snapshots of 100k and 1M
// records, and the cron+rsync baseline it replaces. It prints figures; it
// asserts nothing (the tests do).
//
//	fleetbench -redis unix:///tmp/x/redis.sock [-rsync-interval 2s] [-big 1000000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/recidivist/recidivist/fleet"
)

func main() {
	url := flag.String("redis", "", "fleet-redis URL of a Redis this benchmark may fill (required)")
	big := flag.Int("big", 1_000_000, "records of the large snapshot")
	n1 := flag.Int("n", 20_000, "operations per client in the throughput runs")
	rsyncEvery := flag.Duration("rsync-interval", 2*time.Second, "cron period of the rsync baseline (scaled down from the usual 15 min)")
	rsyncTrials := flag.Int("rsync-trials", 20, "blocks timed through the rsync baseline")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "fleetbench: -redis URL is required")
		os.Exit(2)
	}
	b := &bench{url: *url}
	ctx := context.Background()
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return b.banEvent(ctx, 1, *n1) },
		func(ctx context.Context) error { return b.banEvent(ctx, 8, *n1) },
		func(ctx context.Context) error { return b.blPut(ctx, 1, *n1) },
		func(ctx context.Context) error { return b.blPut(ctx, 8, *n1) },
		func(ctx context.Context) error { return b.delivery(ctx, 3, 2000) },
		func(ctx context.Context) error { return b.delivery(ctx, 50, 2000) },
		func(ctx context.Context) error { return b.catchUpAndSnapshots(ctx, 100_000, *big) },
		func(ctx context.Context) error { return b.rsyncBaseline(ctx, *rsyncEvery, *rsyncTrials) },
	}
	for _, s := range steps {
		if err := s(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			os.Exit(1)
		}
	}
	b.ratio()
}

// bench holds the figures the ratio needs.
type bench struct {
	url           string
	deliveryP50   time.Duration
	deliveryP99   time.Duration
	rsyncP50      time.Duration
	rsyncRun      time.Duration // one rsync run's median
	rsyncInterval time.Duration
}

// dial returns a Fleet of fleet name as host.
func (b *bench) dial(name, host string) (*fleet.Redis, error) {
	return fleet.Dial(fleet.Options{URL: b.url, Name: name, Host: host})
}
