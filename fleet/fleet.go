package fleet

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// Fleet is the meeting point of the hosts of one fleet. Every write is
// idempotent: pushing the same event or record twice changes nothing the
// second time, so a writer may replay its outbox freely.
type Fleet interface {
	// Init stores the fleet's rule when none is stored (or when force is
	// set) and returns the rule in force; ErrRuleDiffers (with the stored
	// rule) when another one is stored and force is not set.
	Init(ctx context.Context, r Rule, force bool) (Rule, error)
	// Rule returns the stored rule, or ErrNotInitialised.
	Rule(ctx context.Context) (Rule, error)
	// PushEvent counts one countable ban and says what it did. prev is
	// the writer's last acknowledged outbox seq (see ErrLost).
	PushEvent(ctx context.Context, e Event, prev uint64) (Result, error)
	// PutRecord offers a block or unban record; it is applied only if it
	// wins against the stored one (see Record.Wins). seq is the writer's
	// outbox position (0 = not from an outbox), prev as for PushEvent.
	PutRecord(ctx context.Context, r Record, seq, prev uint64) (bool, error)
	// Changes returns up to max changes after cursor, waiting up to wait
	// for the first. It returns ErrCursorGone when cursor is empty or its
	// exact entry no longer exists (trimmed, or the meeting point lost
	// it): the caller must take a Snapshot.
	Changes(ctx context.Context, cursor string, wait time.Duration, max int) ([]Change, error)
	// Snapshot returns every stored record and the change cursor taken
	// before reading them: changes after it may repeat what the snapshot
	// holds, none is missing.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Acked returns the highest outbox seq of host the meeting point has
	// acknowledged (0 when it holds none): less than the writer's own last
	// acknowledged seq means the meeting point lost writes.
	Acked(ctx context.Context, host string) (uint64, error)
	// Close releases the connection.
	Close() error
}

// Sentinel errors a caller must tell apart.
var (
	ErrCursorGone     = errors.New("change cursor no longer exists")
	ErrNotInitialised = errors.New("fleet rule not set: run recidivist fleet init")
	ErrRuleDiffers    = errors.New("fleet rule already set to different values")
	// ErrLost: the meeting point no longer holds the writer's last
	// acknowledged write (prev), so it lost writes; nothing was written.
	// The check is part of every write, so a client that reconnects
	// silently cannot write past a loss.
	ErrLost = errors.New("the meeting point lost acknowledged writes")
)

// Rule is the fleet's counting rule, one copy for every host.
type Rule struct {
	Threshold int
	Window    time.Duration
	BanTime   time.Duration // 0 = permanent
}

// Event is one countable ban as a host logged it.
type Event struct {
	Addr netip.Addr
	Time time.Time // from the log line; kept to the millisecond
	Jail string
	Seq  uint64 // the host's outbox position; unique per host
}

// member is the event's ZSET member: host:seq|jail.
func (e Event) member(host string) string {
	return host + ":" + strconv.FormatUint(e.Seq, 10) + "|" + e.Jail
}

// Outcome is what the meeting point did with an event.
type Outcome string

// The outcomes of PushEvent.
const (
	Dup      Outcome = "dup"      // already counted
	Old      Outcome = "old"      // consumed by a block, or older than the window before the address's newest ban
	Forgiven Outcome = "forgiven" // logged before an unban of the address
	Counted  Outcome = "counted"  // counted, no offence yet
	Offender Outcome = "offender" // made the address an offender: Result.Record is the new block
	Blocked  Outcome = "blocked"  // an offence, but a stored record already wins
)

// Result is PushEvent's answer.
type Result struct {
	Outcome Outcome
	Record  Record // the block when Outcome is Offender
	ID      string // its change entry
}

// Change is one entry of the change stream.
type Change struct {
	ID     string
	Record Record
}

// Snapshot is the whole shared blocklist at one moment.
type Snapshot struct {
	Cursor  string
	Records []Record
}

// eventPrefix is the single-address prefix of an event.
func eventPrefix(e Event) netip.Prefix {
	a := e.Addr.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen())
}
