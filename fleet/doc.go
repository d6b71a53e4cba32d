// Package fleet shares counting and the blocklist between hosts through a
// meeting point (Redis 7), behind the small interface Fleet.
//
// It owns: the key model (every key rcv:{F}:…), the two server-side
// decisions (ban_event: fleet-wide counting with the sliding-window rule;
// bl_put: last-writer-wins records of blocks and unban tombstones), the
// record format, and the reconnect rules of the Writer (probe the last
// acknowledged write, rewind the outbox when the meeting point lost it) and
// the Reader (tail from its own cursor only while that exact entry exists,
// else snapshot and tail from the top taken before the snapshot).
//
// It does not own what is blocked: the Reader hands records to the caller
// (the daemon's single owner of blocks), which applies its refusal policy to
// each; and it never sits on the enforcement path: a Fleet that is down,
// slow or frozen only delays sharing.
//
// Key model for fleet F (the hash tag {F} keeps every key in one Redis
// Cluster slot and lets one ACL pattern ~rcv:{F}:* cover them):
//
//	rcv:{F}:cfg        HASH   threshold, window_ms, bantime_ms (fleet init)
//	rcv:{F}:ev:<addr>  ZSET   member host:seq|jail, score = ban time in ms
//	rcv:{F}:bl         HASH   addr[/prefix] → JSON record {s,v,h,x,j,n,o}
//	rcv:{F}:chg        STREAM one entry (a=addr, r=record) per accepted change
//	rcv:{F}:seq        STRING count of accepted changes
//	rcv:{F}:hosts      HASH   ack:<host> → last outbox seq acknowledged;
//	                          <host> → JSON status written by its writer
//
// Retention: nothing in Redis grows without bound. An address's events
// expire a window after its newest (PEXPIREAT) and go when it is blocked
// or unbanned; the change stream is capped (MAXLEN ~ 1000000: a reader
// behind it snapshots). Records go by the rule of Expendable, applied by
// every Writer's Sweep (hourly, compare-and-delete, idempotent): a block
// whose ban-time expiry has passed (every host already expires it at the
// same expires=; a late ban it had consumed can only make a block that is
// already expired), and an unban tombstone older than one window — the
// events it forgave were deleted with it, and every ban logged before it
// is then more than a window older than any ban logged now. The price: a
// host offline for longer than the window catches up by snapshot without
// the unbans older than the window, so it keeps a block unbanned while it
// was away (unban it again), and a backlog of its bans logged before such
// an unban counts again. Permanent blocks and newer tombstones are kept.
package fleet
