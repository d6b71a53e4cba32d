// Package daemon wires the flow of recidivist together for `recidivist run`:
// the watcher's offenders go into the mirror (package blocklist), and the
// kernel (package ipsetstore) is reconciled with the mirror at start, on every
// change of the mirror file and every reconcile interval. Addresses removed
// from the mirror — by `recidivist unban` or by hand — are forgiven in the
// watcher, so the bans logged before their removal never count again.
//
// It owns the daemon's lifetime (lock, readiness, reload) but none of the
// decisions: what counts is the watcher's, what may be blocked is the
// blocklist's, how the kernel is changed is the ipsetstore's.
package daemon
