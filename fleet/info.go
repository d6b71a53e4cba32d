package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Info is the meeting point's view of a fleet, for `fleet status` and
// `check`. It uses only commands of the fleet's ACL.
type Info struct {
	Latency    time.Duration     // one PING
	Rule       *Rule             // nil when not initialised
	Changes    int64             // accepted changes (seq)
	StreamLen  int64             // entries kept in the change stream
	LastChange string            // its newest entry ("" when empty)
	LastAt     time.Time         // when that entry was written (from its ID)
	Acked      map[string]uint64 // each host's acknowledged outbox seq
	Skew       time.Duration     // Redis TIME minus the local clock (half the round trip corrected)
}

// Info reads the meeting point's view.
func (r *Redis) Info(ctx context.Context) (Info, error) {
	var in Info
	start := time.Now()
	if err := r.c.Ping(ctx).Err(); err != nil {
		return in, err
	}
	in.Latency = time.Since(start)
	before := time.Now()
	srv, err := r.c.Time(ctx).Result()
	if err != nil {
		return in, fmt.Errorf("reading the server's TIME: %w", err)
	}
	after := time.Now()
	in.Skew = srv.Sub(before.Add(after.Sub(before) / 2))
	rule, err := r.Rule(ctx)
	switch {
	case err == nil:
		in.Rule = &rule
	case !errors.Is(err, ErrNotInitialised):
		return in, err
	}
	if s, err := r.c.Get(ctx, r.keys.seq).Result(); err == nil {
		in.Changes, _ = strconv.ParseInt(s, 10, 64) // written by INCR only
	} else if !errors.Is(err, redis.Nil) {
		return in, fmt.Errorf("reading %s: %w", r.keys.seq, err)
	}
	xi, err := r.c.XInfoStream(ctx, r.keys.chg).Result()
	switch {
	case err == nil:
		in.StreamLen, in.LastChange = xi.Length, xi.LastGeneratedID
		if ms, _, ok := strings.Cut(xi.LastGeneratedID, "-"); ok {
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 {
				in.LastAt = time.UnixMilli(n)
			}
		}
	case !strings.Contains(err.Error(), "no such key"):
		return in, fmt.Errorf("reading %s: %w", r.keys.chg, err)
	}
	hosts, err := r.c.HGetAll(ctx, r.keys.hosts).Result()
	if err != nil {
		return in, fmt.Errorf("reading %s: %w", r.keys.hosts, err)
	}
	in.Acked = map[string]uint64{}
	for k, v := range hosts {
		if h, ok := strings.CutPrefix(k, "ack:"); ok {
			in.Acked[h], _ = strconv.ParseUint(v, 10, 64) // written by the scripts only
		}
	}
	return in, nil
}
