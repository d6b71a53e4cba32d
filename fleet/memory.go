package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory meeting point with the semantics of the Redis
// one, for tests of everything above Fleet. The conformance tests run the
// same cases on both. One Memory serves many hosts: Host returns the Fleet
// of one of them.
type Memory struct {
	mu      sync.Mutex // guards every field below
	rule    *Rule
	ev      map[string]map[string]int64 // field → member → ban time ms
	bl      map[string]Record
	chg     []Change
	trimmed bool  // an entry was ever trimmed from chg
	nextID  int64 // change IDs keep growing across Lose, as Redis's time-based ones do
	acks    map[string]uint64
	news    chan struct{} // closed and replaced on every change
	down    error         // when set, every call fails with it
}

// NewMemory returns an empty meeting point.
func NewMemory() *Memory {
	m := &Memory{news: make(chan struct{})}
	m.reset()
	return m
}

func (m *Memory) reset() {
	m.rule, m.ev, m.bl, m.chg, m.trimmed, m.acks = nil, map[string]map[string]int64{}, map[string]Record{}, nil, false, map[string]uint64{}
}

// Host returns the Fleet of host on m.
func (m *Memory) Host(host string) Fleet { return &memoryHost{m: m, host: host} }

// TrimTo drops all but the newest n change entries, as XTRIM does.
func (m *Memory) TrimTo(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.chg) > n {
		m.chg = slices.Clone(m.chg[len(m.chg)-n:])
		m.trimmed = true
	}
}

// Lose forgets everything, as a Redis restarted without persistence does.
func (m *Memory) Lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

// SetDown makes every call fail with err (nil: up again).
func (m *Memory) SetDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = err
}

// Records returns the stored records, sorted by field.
func (m *Memory) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.bl))
	for _, r := range m.bl {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(Field(a.Prefix), Field(b.Prefix)) })
	return out
}

// put stores rec and appends its change; m.mu is held.
func (m *Memory) put(field string, rec Record) string {
	m.bl[field] = rec
	m.nextID++
	id := strconv.FormatInt(m.nextID, 10) + "-0"
	m.chg = append(m.chg, Change{ID: id, Record: rec})
	close(m.news)
	m.news = make(chan struct{})
	return id
}

// ack checks prev and records seq, as the scripts do; m.mu is held.
func (m *Memory) ack(host string, seq, prev uint64) error {
	if m.acks[host] < prev {
		return ErrLost
	}
	if seq > m.acks[host] {
		m.acks[host] = seq
	}
	return nil
}

type memoryHost struct {
	m    *Memory
	host string
}

var _ Fleet = (*memoryHost)(nil)

func (h *memoryHost) lock() error {
	h.m.mu.Lock()
	if h.m.down != nil {
		err := h.m.down
		h.m.mu.Unlock()
		return err
	}
	return nil
}

func (h *memoryHost) Close() error { return nil }

func (h *memoryHost) Init(_ context.Context, r Rule, force bool) (Rule, error) {
	if err := h.lock(); err != nil {
		return Rule{}, err
	}
	defer h.m.mu.Unlock()
	if h.m.rule == nil || force {
		h.m.rule = &r
		return r, nil
	}
	if *h.m.rule != r {
		return *h.m.rule, fmt.Errorf("rule is threshold %d, window %v, ban-time %v: %w", h.m.rule.Threshold, h.m.rule.Window, h.m.rule.BanTime, ErrRuleDiffers)
	}
	return r, nil
}

func (h *memoryHost) Rule(context.Context) (Rule, error) {
	if err := h.lock(); err != nil {
		return Rule{}, err
	}
	defer h.m.mu.Unlock()
	if h.m.rule == nil {
		return Rule{}, ErrNotInitialised
	}
	return *h.m.rule, nil
}

// PushEvent follows ban_event.lua step by step.
func (h *memoryHost) PushEvent(_ context.Context, e Event, prev uint64) (Result, error) {
	if err := h.lock(); err != nil {
		return Result{}, err
	}
	m := h.m
	defer m.mu.Unlock()
	if m.rule == nil {
		return Result{}, ErrNotInitialised
	}
	threshold, window := m.rule.Threshold, m.rule.Window.Milliseconds()
	field := Field(eventPrefix(e))
	ts := e.Time.UnixMilli()
	if err := m.ack(h.host, e.Seq, prev); err != nil {
		return Result{}, err
	}
	cur, hasCur := m.bl[field]
	if hasCur && ts <= cur.Version.UnixMilli() {
		if cur.State == Unban {
			return Result{Outcome: Forgiven}, nil
		}
		return Result{Outcome: Old}, nil
	}
	evs := m.ev[field]
	top := ts
	for _, s := range evs {
		top = max(top, s)
	}
	if ts < top-window {
		return Result{Outcome: Old}, nil
	}
	member := e.member(h.host)
	if _, dup := evs[member]; dup {
		return Result{Outcome: Dup}, nil
	}
	if evs == nil {
		evs = map[string]int64{}
		m.ev[field] = evs
	}
	evs[member] = ts
	for k, s := range evs {
		if s < top-window {
			delete(evs, k)
		}
	}
	times := make([]int64, 0, len(evs))
	for _, s := range evs {
		if s >= ts-window && s <= ts+window {
			times = append(times, s)
		}
	}
	slices.Sort(times)
	var version int64
	found := false
	for i := 0; i+threshold-1 < len(times); i++ {
		lo, hi := times[i], times[i+threshold-1]
		if lo <= ts && ts <= hi && hi-lo <= window {
			version, found = hi, true
			break
		}
	}
	if !found {
		return Result{Outcome: Counted}, nil
	}
	var jails []string
	for k := range evs {
		if _, j, ok := strings.Cut(k, "|"); ok && j != "" && !slices.Contains(jails, j) {
			jails = append(jails, j)
		}
	}
	slices.Sort(jails)
	rec := Record{Prefix: eventPrefix(e), State: Block, Version: time.UnixMilli(version).UTC(), Host: h.host, Jails: jails, Bans: len(evs), Origin: "fleet"}
	if b := m.rule.BanTime.Milliseconds(); b > 0 {
		rec.Expires = time.UnixMilli(version + b).UTC()
	}
	delete(m.ev, field)
	if hasCur && !rec.Wins(cur) {
		return Result{Outcome: Blocked}, nil
	}
	return Result{Outcome: Offender, Record: rec, ID: m.put(field, rec)}, nil
}

// PutRecord follows bl_put.lua.
func (h *memoryHost) PutRecord(_ context.Context, rec Record, seq, prev uint64) (bool, error) {
	if err := h.lock(); err != nil {
		return false, err
	}
	m := h.m
	defer m.mu.Unlock()
	if err := m.ack(rec.Host, seq, prev); err != nil {
		return false, err
	}
	rec.Prefix = Canonical(rec.Prefix)
	rec.Version = time.UnixMilli(rec.Version.UnixMilli()).UTC()
	field := Field(rec.Prefix)
	if cur, ok := m.bl[field]; ok && !rec.Wins(cur) {
		return false, nil
	}
	for k, s := range m.ev[field] {
		if s <= rec.Version.UnixMilli() {
			delete(m.ev[field], k)
		}
	}
	m.put(field, rec)
	return true, nil
}

func (h *memoryHost) Changes(ctx context.Context, cursor string, wait time.Duration, max int) ([]Change, error) {
	if cursor == "" {
		return nil, ErrCursorGone
	}
	for waited := false; ; waited = true {
		if err := h.lock(); err != nil {
			return nil, err
		}
		m := h.m
		start := -1
		if cursor == "0-0" {
			if m.trimmed {
				m.mu.Unlock()
				return nil, ErrCursorGone
			}
			start = 0
		} else {
			for i, c := range m.chg {
				if c.ID == cursor {
					start = i + 1
				}
			}
		}
		if start < 0 {
			m.mu.Unlock()
			return nil, ErrCursorGone
		}
		out := slices.Clone(m.chg[start:min(len(m.chg), start+max)])
		news := m.news
		m.mu.Unlock()
		if len(out) > 0 || waited || wait <= 0 {
			return out, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-news:
			t.Stop()
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

func (h *memoryHost) Snapshot(context.Context) (Snapshot, error) {
	if err := h.lock(); err != nil {
		return Snapshot{}, err
	}
	m := h.m
	defer m.mu.Unlock()
	s := Snapshot{Cursor: "0-0"}
	if len(m.chg) > 0 {
		s.Cursor = m.chg[len(m.chg)-1].ID
	}
	for _, r := range m.bl {
		s.Records = append(s.Records, r)
	}
	return s, nil
}

func (h *memoryHost) Acked(_ context.Context, host string) (uint64, error) {
	if err := h.lock(); err != nil {
		return 0, err
	}
	defer h.m.mu.Unlock()
	return h.m.acks[host], nil
}
