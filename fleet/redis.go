package fleet

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed common.lua
	commonSrc string
	//go:embed ban_event.lua
	banEventSrc string
	//go:embed bl_put.lua
	blPutSrc string

	// Script.Run sends EVALSHA and falls back to EVAL on NOSCRIPT (a
	// restarted or failed-over server has an empty script cache).
	banEventScript = redis.NewScript(commonSrc + banEventSrc)
	blPutScript    = redis.NewScript(commonSrc + blPutSrc)
)

// Redis is the Fleet on a Redis 7 server (or a Sentinel-managed primary).
type Redis struct {
	c    *redis.Client
	host string
	keys keys
}

var _ Fleet = (*Redis)(nil)

// keys are the names of the fleet's keys.
type keys struct{ prefix, cfg, bl, chg, seq, hosts string }

func keysOf(fleetName string) keys {
	p := "rcv:{" + fleetName + "}:"
	return keys{prefix: p, cfg: p + "cfg", bl: p + "bl", chg: p + "chg", seq: p + "seq", hosts: p + "hosts"}
}

func (k keys) ev(field string) string { return k.prefix + "ev:" + field }

// NewRedis returns the Fleet named fleetName, written to as host, over the
// client c (see Options). It does not connect: every call does, and a
// failed call is simply retried by the caller.
func NewRedis(c *redis.Client, fleetName, host string) *Redis {
	return &Redis{c: c, host: host, keys: keysOf(fleetName)}
}

// Client is the underlying client, for status and checks.
func (r *Redis) Client() *redis.Client { return r.c }

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

// Init implements Fleet.
func (r *Redis) Init(ctx context.Context, rule Rule, force bool) (Rule, error) {
	want := map[string]any{
		"threshold":  rule.Threshold,
		"window_ms":  rule.Window.Milliseconds(),
		"bantime_ms": rule.BanTime.Milliseconds(),
	}
	if force {
		if err := r.c.HSet(ctx, r.keys.cfg, want).Err(); err != nil {
			return Rule{}, fmt.Errorf("writing %s: %w", r.keys.cfg, err)
		}
		return rule, nil
	}
	pipe := r.c.TxPipeline()
	for _, k := range []string{"threshold", "window_ms", "bantime_ms"} {
		pipe.HSetNX(ctx, r.keys.cfg, k, want[k])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Rule{}, fmt.Errorf("writing %s: %w", r.keys.cfg, err)
	}
	got, err := r.Rule(ctx)
	if err != nil {
		return Rule{}, err
	}
	if got != rule {
		return got, fmt.Errorf("%s holds threshold %d, window %v, ban-time %v: %w", r.keys.cfg, got.Threshold, got.Window, got.BanTime, ErrRuleDiffers)
	}
	return got, nil
}

// Rule implements Fleet.
func (r *Redis) Rule(ctx context.Context) (Rule, error) {
	v, err := r.c.HMGet(ctx, r.keys.cfg, "threshold", "window_ms", "bantime_ms").Result()
	if err != nil {
		return Rule{}, fmt.Errorf("reading %s: %w", r.keys.cfg, err)
	}
	var n [3]int64
	for i, x := range v {
		s, ok := x.(string)
		if !ok {
			if i == 2 {
				continue // ban time may be absent: permanent
			}
			return Rule{}, ErrNotInitialised
		}
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return Rule{}, fmt.Errorf("reading %s: %q is not a number", r.keys.cfg, s)
		}
	}
	return Rule{Threshold: int(n[0]), Window: time.Duration(n[1]) * time.Millisecond, BanTime: time.Duration(n[2]) * time.Millisecond}, nil
}

// PushEvent implements Fleet.
func (r *Redis) PushEvent(ctx context.Context, e Event, prev uint64) (Result, error) {
	field := Field(eventPrefix(e))
	k := r.keys
	v, err := banEventScript.Run(ctx, r.c,
		[]string{k.cfg, k.ev(field), k.bl, k.chg, k.seq, k.hosts},
		field, e.member(r.host), e.Time.UnixMilli(), r.host, e.Seq, prev).StringSlice()
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOCFG") {
			return Result{}, ErrNotInitialised
		}
		if strings.HasPrefix(err.Error(), "LOST") {
			return Result{}, fmt.Errorf("pushing ban of %s: %w", field, ErrLost)
		}
		return Result{}, fmt.Errorf("pushing ban of %s: %w", field, err)
	}
	res := Result{Outcome: Outcome(v[0])}
	if res.Outcome == Offender {
		if len(v) < 3 {
			return Result{}, fmt.Errorf("pushing ban of %s: short reply %q", field, v)
		}
		if res.Record, err = decodeRecord(field, v[1]); err != nil {
			return Result{}, err
		}
		res.ID = v[2]
	}
	return res, nil
}

// PutRecord implements Fleet.
func (r *Redis) PutRecord(ctx context.Context, rec Record, seq, prev uint64) (bool, error) {
	field := Field(rec.Prefix)
	k := r.keys
	v, err := blPutScript.Run(ctx, r.c,
		[]string{k.bl, k.chg, k.seq, k.hosts, k.ev(field)},
		field, rec.encode(), rec.Version.UnixMilli(), rec.Host, string(rec.State), seq, prev).Slice()
	if err != nil {
		if strings.HasPrefix(err.Error(), "LOST") {
			return false, fmt.Errorf("putting record of %s: %w", field, ErrLost)
		}
		return false, fmt.Errorf("putting record of %s: %w", field, err)
	}
	if len(v) == 0 {
		return false, fmt.Errorf("putting record of %s: empty reply", field)
	}
	applied, _ := v[0].(int64) // 1 or 0; anything else reads as "not applied"
	return applied == 1, nil
}

// Changes implements Fleet. The existence check and the read are one
// transaction, so entries are never read past a cursor that is gone; a
// blocking read only waits for news and is followed by that transaction.
func (r *Redis) Changes(ctx context.Context, cursor string, wait time.Duration, max int) ([]Change, error) {
	if cursor == "" {
		return nil, ErrCursorGone
	}
	for waited := false; ; waited = true {
		pipe := r.c.TxPipeline()
		var check *redis.XMessageSliceCmd
		var info *redis.XInfoStreamCmd
		if cursor == "0-0" {
			info = pipe.XInfoStream(ctx, r.keys.chg)
		} else {
			check = pipe.XRange(ctx, r.keys.chg, cursor, cursor)
		}
		read := pipe.XRangeN(ctx, r.keys.chg, "("+cursor, "+", int64(max))
		_, err := pipe.Exec(ctx)
		if err != nil && !isNoStream(err) {
			return nil, fmt.Errorf("reading %s after %s: %w", r.keys.chg, cursor, err)
		}
		if check != nil && len(check.Val()) == 0 {
			return nil, ErrCursorGone
		}
		if info != nil && info.Err() == nil && info.Val().MaxDeletedEntryID != "0-0" {
			return nil, ErrCursorGone // the beginning is valid only while nothing was ever trimmed
		}
		msgs := read.Val()
		if len(msgs) > 0 || waited || wait <= 0 {
			return r.decode(msgs)
		}
		// wait for news, then read it through the checked path above
		err = r.c.XRead(ctx, &redis.XReadArgs{Streams: []string{r.keys.chg, cursor}, Count: 1, Block: wait}).Err()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("waiting on %s: %w", r.keys.chg, err)
		}
	}
}

func isNoStream(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

func (r *Redis) decode(msgs []redis.XMessage) ([]Change, error) {
	out := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		a, _ := m.Values["a"].(string)
		s, _ := m.Values["r"].(string)
		rec, err := decodeRecord(a, s)
		if err != nil {
			return nil, fmt.Errorf("change %s: %w", m.ID, err)
		}
		out = append(out, Change{ID: m.ID, Record: rec})
	}
	return out, nil
}

// Snapshot implements Fleet.
func (r *Redis) Snapshot(ctx context.Context) (Snapshot, error) {
	top, err := r.c.XRevRangeN(ctx, r.keys.chg, "+", "-", 1).Result()
	if err != nil {
		return Snapshot{}, fmt.Errorf("reading the top of %s: %w", r.keys.chg, err)
	}
	s := Snapshot{Cursor: "0-0"}
	if len(top) > 0 {
		s.Cursor = top[0].ID
	}
	iter := r.c.HScan(ctx, r.keys.bl, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		field := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		rec, err := decodeRecord(field, iter.Val())
		if err != nil {
			return Snapshot{}, err
		}
		s.Records = append(s.Records, rec)
	}
	if err := iter.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("scanning %s: %w", r.keys.bl, err)
	}
	return s, nil
}

// Acked implements Fleet.
func (r *Redis) Acked(ctx context.Context, host string) (uint64, error) {
	s, err := r.c.HGet(ctx, r.keys.hosts, "ack:"+host).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the acknowledgement of %s: %w", host, err)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading the acknowledgement of %s: %q is not a number", host, s)
	}
	return n, nil
}
