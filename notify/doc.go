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
// events survive restarts, and an acknowledged event is never sent again.
package notify
