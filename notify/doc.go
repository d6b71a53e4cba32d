// Package notify tells people about transitions of the blocklist: an
// address that became blocked (block) or stopped being blocked (unblock).
// It never hears of a restore, a restart, a reconcile's repair or an
// address decided again while already blocked: the daemon hands it only
// the mirror's own transitions.
//
// Blocking never waits on it. The daemon's Enqueue is a non-blocking send
// to a bounded queue; a goroutine writes each event to a durable outbox in
// the state directory (STATE-DIR/notify-outbox, JSON lines, fsynced) and
// another delivers the outbox in batches to the hook (notify-exec) and the
// webhook (notify-url), retrying failures with backoff. An event leaves the
// outbox only when every sink has acknowledged it or given up on it, so
// events survive restarts, kills and reboots.
//
// Delivery is at least once per sink, and a batch sent again is the same
// batch: the outbox records which events a batch holds (and its key, the
// Idempotency-Key and RECIDIVIST_BATCH) before it is first sent, and which
// sinks are done with it while another is retried. A sink gets a batch
// twice only when the daemon dies between the sink taking it and the
// outbox recording so, when a send is still under way StopGrace after the
// stop began, or when a failed send is retried.
package notify
